# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The POSIX job store driven directly, with real processes (no mocks of the OS)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from ansible_collections.remote.jobs.plugins.module_utils._args import JobArgumentError, check_job_id, parse_duration
from ansible_collections.remote.jobs.plugins.module_utils import _jobstore as js


@pytest.fixture
def store(tmp_path):
    return js.JobStore(str(tmp_path / 'root'))


def start(store, **spec):
    (job,) = store.start([spec])
    return job


def wait(store, job, timeout=30):
    assert store.wait([job], timeout=timeout) is False, 'job did not end: %r' % job.state
    return job


def gone(pid, start_time, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not js.proc_alive(pid, start_time):
            return True
        time.sleep(0.05)
    return False


def lose(job):
    """SIGKILL the job's supervisor only (as a kill -9 or the OOM killer would): the job is lost, its command runs on."""
    os.kill(job.state['supervisor_pid'], signal.SIGKILL)
    assert gone(job.state['supervisor_pid'], job.state['supervisor_start_time'])
    return job


@pytest.mark.parametrize('bad', ['../x', '..', '.', '', '.hidden', 'a/b', 'a b', 'x' * 65, 'ok\n', '-lead', None, 7])
def test_bad_job_ids_are_refused_before_any_path(store, bad):
    with pytest.raises(JobArgumentError, match='invalid job id'):
        check_job_id(bad)
    with pytest.raises(JobArgumentError, match='invalid job id'):
        store.job_dir(bad)
    with pytest.raises(JobArgumentError):
        store.select(ids=[bad])
    assert not os.path.exists(store.root)


def test_good_job_ids():
    for good in ('a', '0', 'A.b_c-d', 'x' * 64, '20261124T193400-a1b2c3'):
        assert check_job_id(good) == good


def test_durations():
    assert parse_duration(90) == 90
    assert parse_duration('90s') == 90
    assert parse_duration('15m') == 900
    assert parse_duration('2h') == 7200
    assert parse_duration('7d') == 7 * 86400
    for bad in ('soon', '-1', '5y', True):
        with pytest.raises(JobArgumentError):
            parse_duration(bad)


def test_job_runs_detached_and_records_its_end(store):
    job = start(store, name='n', command='sleep 0.3; echo out; echo err >&2; exit 2')
    assert job.state['state'] == 'running'
    sup = job.state['supervisor_pid']
    assert sup != os.getpid()
    assert os.getsid(sup) != os.getsid(0), 'the supervisor must be in a session of its own'
    assert os.getpgid(job.state['pid']) == job.state['pid'], 'the command leads its own process group'
    assert job.state['pid_start_time'] and job.state['supervisor_start_time']
    wait(store, job)
    assert job.state['state'] == 'failed' and job.state['reason'] == 'exit' and job.state['rc'] == 2
    assert job.state['finished'] and job.state['started'] <= job.state['finished']
    with open(job.stdout_path, 'rb') as handle:
        assert handle.read() == b'out\n'
    with open(job.stderr_path, 'rb') as handle:
        assert handle.read() == b'err\n'
    assert gone(sup, job.state['supervisor_start_time'])


def test_completed_job(store):
    job = wait(store, start(store, argv=['true']))
    assert (job.state['state'], job.state['reason'], job.state['rc']) == ('completed', 'exit', 0)


def test_modes_and_no_secret_on_disk(store):
    secret = 'S3cr3t-value-%d' % os.getpid()
    stdin_secret = 'stdin-secret-%d' % os.getpid()
    # The job proves it saw both secrets by printing them hex-encoded: the command line holds neither.
    hexed = 'printf %s "$1" | od -An -tx1 | tr -d " \\n"; echo'
    job = start(store, command='h() { %s; }; h "$TOKEN"; read line; h "$line"' % hexed,
                env={'TOKEN': secret}, stdin=stdin_secret + '\n')
    wait(store, job)
    with open(job.stdout_path) as handle:
        assert handle.read() == '%s\n%s\n' % (secret.encode().hex(), stdin_secret.encode().hex())
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(job.dir).st_mode) == 0o700
    for name in os.listdir(job.dir):
        path = os.path.join(job.dir, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
        with open(path, 'rb') as handle:
            data = handle.read()
        if name in ('job.json',):
            assert b'TOKEN' in data, 'env names are recorded'
        assert secret.encode() not in data, name
        assert stdin_secret.encode() not in data, name
    spec = json.load(open(job.path('job.json')))
    assert spec['env_keys'] == ['TOKEN'] and spec['has_stdin'] is True


def test_timeout_is_enforced_on_the_target(store):
    job = start(store, command='sleep 30', timeout=0.5)
    pid, pid_start = job.state['pid'], job.state['pid_start_time']
    wait(store, job, timeout=15)
    assert (job.state['state'], job.state['reason']) == ('stopped', 'timeout')
    assert 'timeout' in job.state['error']
    assert gone(pid, pid_start)


def test_stop_kills_the_whole_tree(store):
    # A child in the group, a grandchild, and a grandchild that left the group with setsid.
    job = start(store, command='sleep 300 & echo $!; sh -c "sleep 300 & echo \\$!; wait" & setsid sleep 300 & echo $!; wait')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(job.stdout_path) as handle:
            pids = [int(p) for p in handle.read().split()]
        if len(pids) == 3:
            break
        time.sleep(0.05)
    assert len(pids) == 3
    starts = {pid: js.proc_start_time(pid) for pid in pids}
    assert all(js.proc_alive(pid, starts[pid]) for pid in pids)
    assert store.stop(job, grace=2) is True
    assert (job.state['state'], job.state['reason']) == ('stopped', 'stop')
    for pid in pids + [job.state['pid']]:
        assert gone(pid, starts.get(pid, job.state['pid_start_time'])), 'pid %d survived stop' % pid
    assert store.stop(job, grace=2) is False, 'stopping an ended job changes nothing'


def test_stop_escalates_to_kill_after_grace(store):
    job = start(store, command='trap "" TERM; echo ready; while :; do sleep 0.1; done')
    deadline = time.monotonic() + 10
    while open(job.stdout_path).read() != 'ready\n' and time.monotonic() < deadline:
        time.sleep(0.05)
    store.stop(job, grace=0.5)
    assert job.state['state'] == 'stopped'
    assert gone(job.state['pid'], job.state['pid_start_time'])


def test_jobs_stopped_together_share_one_grace_period(store):
    # Three commands that ignore SIGTERM and one that does not: one at a time, each of the three would take its
    # own grace period before the kill, and their ends would lie at least a grace period apart.
    stubborn = 'trap "" TERM; echo ready; while :; do sleep 0.1; done'
    jobs = store.start([{'command': stubborn}, {'command': 'sleep 300'}, {'command': stubborn}, {'command': stubborn}])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(open(job.stdout_path).read() != 'ready\n'
                                              for job in jobs if job is not jobs[1]):
        time.sleep(0.05)
    assert store.stop_all(jobs, grace=1.5) == [True, True, True, True]
    assert {(job.state['state'], job.state['reason']) for job in jobs} == {('stopped', 'stop')}
    for job in jobs:
        assert gone(job.state['pid'], job.state['pid_start_time'])
    ends = sorted(js.parse_iso(job.state['finished']) for job in jobs if job is not jobs[1])
    assert (ends[-1] - ends[0]).total_seconds() < 1.0, 'the grace periods ran one after another: %s' % ends
    assert store.stop_all(jobs, grace=1.5) == [False] * 4, 'stopping ended jobs changes nothing'


def test_stop_all_ends_the_unsupervised_command_of_a_lost_job_and_skips_ended_ones(store):
    done = wait(store, start(store, command='true'))
    orphan = lose(start(store, command='sleep 300'))
    running = start(store, command='sleep 300')
    assert store.stop_all([done, orphan, running], grace=1) == [False, True, True]
    assert orphan.state['reason'] == 'lost' and running.state['reason'] == 'stop'
    assert gone(orphan.state['pid'], orphan.state['pid_start_time'])
    assert gone(running.state['pid'], running.state['pid_start_time'])


def test_stop_finds_what_is_left_of_a_lost_job_by_its_marker(store):
    # A setsid'd descendant leaves the job's group; once the supervisor (its subreaper) and the command are gone it
    # belongs to init, in no tree of the job: only the marker in its environment says whose it is.
    job = start(store, command="setsid sh -c 'trap \"\" TERM; echo $$; exec sleep 300' & sleep 300")
    (escaped,) = printed_pids(job, 1)
    with open('/proc/%d/environ' % escaped, 'rb') as handle:
        assert ('%s=%s' % (js.JOB_MARKER, job.dir)).encode() in handle.read().split(b'\0')
    lose(job)
    os.kill(job.state['pid'], signal.SIGKILL)
    assert gone(job.state['pid'], job.state['pid_start_time'])
    job.check_lost()
    assert job.state['reason'] == 'lost'
    started = js.proc_start_time(escaped)
    try:
        assert store.stop_all([job], grace=0.5) == [True], 'the marked process still runs: the job counts as running'
        assert gone(escaped, started), 'the marked process was killed (it ignores SIGTERM)'
        assert store.still_running([job]) == [False]
    finally:
        kill_quietly([escaped])


STUBBORN = "sh -c 'trap \"\" TERM; echo $$; exec sleep 300'"  # prints its pid, ignores SIGTERM


def printed_pids(job, count, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(job.stdout_path) as handle:
            pids = [int(p) for p in handle.read().split()]
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError('the job printed fewer than %d pids' % count)


def kill_quietly(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize('leaves', ['', 'setsid '], ids=['in the group', 'setsid'])
def test_stop_kills_a_child_that_ignores_sigterm_after_the_command_died_of_it(store, leaves):
    # The command's shell dies of the SIGTERM at once, its supervisor records the end and exits, and the child
    # that ignored the signal moves to init: below neither any more, it must still get the SIGKILL after grace.
    job = start(store, command='%s%s & sleep 300' % (leaves, STUBBORN))
    (child,) = printed_pids(job, 1)
    child_start = js.proc_start_time(child)
    assert (os.getpgid(child) == job.state['pid']) is not bool(leaves)
    try:
        began = time.monotonic()
        assert store.stop(job, grace=0.5) is True
        assert (job.state['state'], job.state['reason']) == ('stopped', 'stop')
        assert gone(child, child_start, timeout=2), 'the child that ignores SIGTERM survived stop'
        assert time.monotonic() - began < 5
    finally:
        kill_quietly([child])


def test_stop_ends_a_lost_jobs_command_and_its_child_that_ignores_sigterm(store):
    job = lose(start(store, command='%s & sleep 300' % STUBBORN))
    (child,) = printed_pids(job, 1)
    child_start = js.proc_start_time(child)
    try:
        (lost,) = store.select(ids=[job.id])
        assert lost.state['reason'] == 'lost' and 'still runs unsupervised' in lost.state['error']
        assert store.stop(lost, grace=0.5) is True
        assert gone(lost.state['pid'], lost.state['pid_start_time'])
        assert gone(child, child_start, timeout=2), 'the child that ignores SIGTERM survived stop'
        assert (lost.state['state'], lost.state['reason']) == ('failed', 'lost')
        assert 'still runs' not in lost.state['error'] and 'stop ended what was left of its command' in lost.state['error']
        assert store.stop(lost, grace=0.5) is False, 'nothing is left to stop'
    finally:
        kill_quietly([child])


def test_stop_ends_the_process_group_of_a_lost_job_whose_command_died(store):
    # Supervisor and shell killed (the OOM killer picks the biggest, not the whole group): the shell's children
    # still run in its process group, which keeps the shell's pid as its id as long as it has members.
    job = start(store, command='sleep 300 & echo $!; %s & wait' % STUBBORN)
    kids = printed_pids(job, 2)
    starts = {pid: js.proc_start_time(pid) for pid in kids}
    lose(job)
    os.kill(job.state['pid'], signal.SIGKILL)
    assert gone(job.state['pid'], job.state['pid_start_time'])
    try:
        (lost,) = store.select(ids=[job.id])
        assert lost.state['reason'] == 'lost'
        assert store.stop(lost, grace=0.5) is True, 'its group still ran'
        for pid in kids:
            assert gone(pid, starts[pid], timeout=2), 'process %d of the lost job survived stop' % pid
        assert store.still_running([lost]) == [False] and store.stop(lost, grace=0.5) is False
    finally:
        kill_quietly(kids)


def test_stop_leaves_alone_a_group_or_command_whose_pid_was_reused(store):
    # Next to a lost job whose group is still its own (ended), two lost jobs whose pid now belongs to someone
    # else: a process with that pid started at another time (the pid, and so the group id, was reused), and a
    # record from before a reboot (another boot id; process start times count from the boot).
    own = start(store, command='sleep 300 & echo $!; wait')
    # Someone else's processes do not carry the job's marker (see test_stop_finds_what_is_left_of_a_lost_job...).
    reused = start(store, command="exec env -u %s sh -c 'sleep 300 & echo $!; wait'" % js.JOB_MARKER)
    rebooted = start(store, command='sleep 300 & echo $!; wait')
    kids = {job.id: printed_pids(job, 1)[0] for job in (own, reused, rebooted)}
    for job in (own, reused, rebooted):
        lose(job)
    os.kill(own.state['pid'], signal.SIGKILL)
    with reused.lock():
        reused._write_state(pid_start_time='1')
    if js.boot_id() is not None:
        with rebooted.lock():
            rebooted._write_state(boot_id='another-boot')
    try:
        jobs = store.select(ids=[own.id, reused.id, rebooted.id])
        assert [job.state['reason'] for job in jobs] == ['lost'] * 3
        expected = [True, False, js.boot_id() is None]
        assert store.stop_all(jobs, grace=0.5) == expected
        assert gone(kids[own.id], None, timeout=2)
        assert js.proc_alive(reused.state['pid']) and js.proc_alive(kids[reused.id]), 'someone else\'s group was signalled'
        if js.boot_id() is not None:
            assert js.proc_alive(rebooted.state['pid']) and js.proc_alive(kids[rebooted.id])
    finally:
        for job in (reused, rebooted):
            try:
                os.killpg(job.state['pid'], signal.SIGKILL)
            except OSError:
                pass
        kill_quietly(kids.values())


def test_supervisor_and_command_killed_is_lost(store):
    job = start(store, command='sleep 300')
    st = dict(job.state)
    os.kill(st['supervisor_pid'], signal.SIGKILL)
    os.killpg(st['pid'], signal.SIGKILL)
    assert gone(st['supervisor_pid'], st['supervisor_start_time'])
    (again,) = store.select(ids=[job.id])
    assert (again.state['state'], again.state['reason']) == ('failed', 'lost')
    assert 'supervisor' in again.state['error']
    on_disk = json.load(open(job.path('state.json')))
    assert (on_disk['state'], on_disk['reason']) == ('failed', 'lost'), 'lost state is persisted'


def test_pid_reuse_is_detected_by_start_time(store):
    job = start(store, command='sleep 300')
    with job.lock():
        job._write_state(supervisor_start_time='1')  # same pid, another process start time
    (again,) = store.select(ids=[job.id])
    assert again.state['reason'] == 'lost'
    assert 'still runs unsupervised' in again.state['error']
    assert store.stop(again, grace=1) is True, 'stop ends the unsupervised command of a lost job'
    assert gone(job.state['pid'], job.state['pid_start_time'])


def test_keep_and_consume(store):
    job = wait(store, start(store, command='printf "one\\ntwo\\n"; printf "bad\\n" >&2'))
    assert job.has_more_data()
    out, truncated = store.receive(job, keep=True)
    assert out == {'stdout': b'one\ntwo\n', 'stderr': b'bad\n'} and not truncated
    assert job.has_more_data(), 'keep leaves it unread'
    out, truncated = store.receive(job, keep=False, max_bytes=4)
    assert out == {'stdout': b'one\n', 'stderr': b'bad\n'} and truncated
    assert job.has_more_data()
    out, truncated = store.receive(job)
    assert out == {'stdout': b'two\n', 'stderr': b''} and not truncated
    assert not job.has_more_data(), 'everything received'
    assert store.receive(job) == ({'stdout': b'', 'stderr': b''}, False)


def test_receive_mid_run_returns_pieces_that_add_up(store):
    job = start(store, command='for i in $(seq 1 30); do echo "line $i"; sleep 0.03; done')
    pieces = []
    while True:
        finished = job.finished
        out, _truncated = store.receive(job)
        pieces.append(out['stdout'])
        if finished:
            break
        time.sleep(0.1)
        job.reload()
    assert len([p for p in pieces if p]) > 1, 'several partial receives'
    assert b''.join(pieces) == b''.join(b'line %d\n' % i for i in range(1, 31))
    assert not job.has_more_data()


def test_incomplete_utf8_is_held_back_while_running(store):
    job = start(store, command='printf "a\\342\\202"; sleep 1; printf "\\254b"')
    time.sleep(0.4)
    out, _truncated = store.receive(job)
    assert out['stdout'] == b'a'
    wait(store, job)
    out, _truncated = store.receive(job)
    assert out['stdout'] == '\u20acb'.encode()


@pytest.mark.parametrize('max_bytes', [1, 2, 3])
def test_a_max_bytes_below_one_character_still_makes_progress(store, max_bytes):
    # A loop of receives until not truncated must end: each returns at least one whole character.
    job = wait(store, start(store, command='printf "\\303\\251\\342\\202\\254x"'))  # "é€x"
    got = []
    for _attempt in range(10):
        out, truncated = store.receive(job, max_bytes=max_bytes)
        got.append(out['stdout'])
        if not truncated:
            break
    assert b''.join(got) == '\u00e9\u20acx'.encode()
    assert all(chunk.decode() for chunk in got), 'every piece is whole characters: %r' % got


def test_concurrent_consumers_get_every_byte_once(store):
    job = start(store, command='for i in $(seq 1 400); do echo "line-$i"; done')
    got, lock = [], threading.Lock()

    def consumer():
        while True:
            job_view = js.Job(store, job.id)
            out, _truncated = store.receive(job_view)
            with lock:
                got.append(out['stdout'])
            if job_view.finished and not out['stdout']:
                return

    threads = [threading.Thread(target=consumer) for _i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    lines = b''.join(got).split()
    assert sorted(lines) == sorted(b'line-%d' % i for i in range(1, 401))


def test_wait_any_and_timeout(store):
    fast = start(store, command='sleep 0.2')
    slow = start(store, command='sleep 30')
    assert store.wait([fast, slow], any_=True, timeout=20) is False
    assert fast.finished and not slow.finished
    assert store.wait([fast, slow], timeout=0.3) is True, 'timed out with slow still running'
    store.stop(slow, grace=1)


needs_pidfd = pytest.mark.skipif(not hasattr(os, 'pidfd_open'), reason='os.pidfd_open needs Python 3.9+ on Linux')


@needs_pidfd
def test_a_waiter_wakes_when_the_supervisor_exits_not_at_its_next_poll(store, monkeypatch):
    # With reads of state.json an hour apart, only the supervisor's exit can end this wait in time.
    monkeypatch.setattr(js, 'POLL', 3600)
    monkeypatch.setattr(js, 'LOST_CHECK_EVERY', 3600)
    jobs = store.start([{'command': 'sleep 0.3'}, {'command': 'sleep 0.6'}])
    outcome = []
    waiter = threading.Thread(target=lambda: outcome.append(store.wait(jobs, timeout=7200)), daemon=True)
    waiter.start()
    waiter.join(60)
    assert outcome == [False], 'the wait did not end when the supervisors exited'
    assert [job.state['state'] for job in jobs] == ['completed', 'completed']


@needs_pidfd
def test_a_waiter_whose_jobs_are_all_watched_reads_state_only_at_the_lost_checks(store, monkeypatch):
    monkeypatch.setattr(js, 'POLL', 0.01)  # polling would read state.json about 150 times in 1.5 s
    jobs = store.start([{'command': 'sleep 1.5'}, {'command': 'sleep 1.5'}])
    reads = []
    original = js.Job.reload
    monkeypatch.setattr(js.Job, 'reload', lambda job: (reads.append(job.id), original(job))[1])
    assert store.wait(jobs, timeout=60) is False
    assert [job.state['state'] for job in jobs] == ['completed', 'completed']
    # Once per 0.5 s lost check, plus the wake-ups: a handful per job, not one per POLL.
    assert len(reads) < 30, '%d reads of state.json' % len(reads)


def test_without_pidfds_a_waiter_polls(store, monkeypatch):
    monkeypatch.delattr(os, 'pidfd_open', raising=False)
    job = start(store, command='sleep 0.2')
    assert store.wait([job], timeout=30) is False and job.state['state'] == 'completed'


@needs_pidfd
def test_when_no_pidfd_can_be_had_a_waiter_polls(store, monkeypatch):
    def refused(pid):
        raise OSError(errno.EMFILE, 'Too many open files')
    monkeypatch.setattr(os, 'pidfd_open', refused)
    jobs = store.start([{'command': 'sleep 0.2'}, {'command': 'sleep 0.3'}])
    assert store.wait(jobs, timeout=30) is False
    assert [job.state['state'] for job in jobs] == ['completed', 'completed']


@needs_pidfd
def test_only_the_recorded_supervisor_is_watched(store):
    job = start(store, command='sleep 30')
    exits = js._Exits()
    try:
        job.state['supervisor_start_time'] = '1'  # the pid now belongs to another process
        exits.watch([job])
        assert exits.fds == {}
        job.reload()
        job._state_sig = None
        job.reload()
        exits.watch([job])
        assert list(exits.fds) == [job.id]
    finally:
        exits.close()
        store.stop(job, grace=1)


@needs_pidfd
def test_beyond_the_watch_limit_jobs_are_polled(store, monkeypatch):
    monkeypatch.setattr(js._Exits, 'MAX_WATCHED', 1)
    jobs = store.start([{'command': 'sleep 0.%d' % i} for i in (1, 2, 3)])
    assert store.wait(jobs, timeout=30) is False
    assert {job.state['state'] for job in jobs} == {'completed'}


def test_spawn_error(store):
    job = start(store, argv=['/nonexistent/program'])
    assert (job.state['state'], job.state['reason']) == ('failed', 'spawn_error')
    assert 'No such file' in job.state['error']
    job = start(store, argv=['true'], chdir='/nonexistent/dir')
    assert job.state['reason'] == 'spawn_error'


def test_output_path(store, tmp_path):
    log = tmp_path / 'logs' / 'PsLog.txt'
    log.parent.mkdir()
    job = wait(store, start(store, command='echo to the log', output_path=str(log)))
    assert log.read_text() == 'to the log\n'
    assert not os.path.exists(job.path('stdout'))
    out, _truncated = store.receive(job, keep=True)
    assert out['stdout'] == b'to the log\n'
    store.remove(job)
    assert log.exists(), 'remove keeps a file the user named'
    # The file already holds text: a new job appends, and its output is only what it wrote.
    again = wait(store, start(store, command='echo second run', output_path=str(log)))
    assert log.read_text() == 'to the log\nsecond run\n'
    out, _truncated = store.receive(again)
    assert out['stdout'] == b'second run\n'
    assert not again.has_more_data()


def test_home_folder_is_the_default_and_the_base_of_relative_paths(store, tmp_path, monkeypatch):
    home = tmp_path / 'home'
    (home / 'sub').mkdir(parents=True)
    (home / 'logs').mkdir()
    monkeypatch.setenv('HOME', str(home))
    for chdir, expected in ((None, home), ('~', home), ('~/sub', home / 'sub'), ('sub', home / 'sub'),
                            (str(tmp_path), tmp_path)):
        spec = {'command': 'pwd'} if chdir is None else {'command': 'pwd', 'chdir': chdir}
        job = wait(store, start(store, **spec))
        out, _truncated = store.receive(job)
        assert out['stdout'].decode().strip() == str(expected), chdir
        assert job.spec.get('chdir') == chdir, 'the record keeps chdir as given'
    job = wait(store, start(store, command='echo logged', output_path='logs/job.log'))
    assert job.stdout_path == str(home / 'logs' / 'job.log')
    assert (home / 'logs' / 'job.log').read_text() == 'logged\n'


def test_corrupt_state_is_reported_not_raised(store):
    job = wait(store, start(store, argv=['true']))
    with open(job.path('state.json'), 'w') as handle:
        handle.write('{"state": "runn')
    (again,) = store.select(ids=[job.id])
    assert (again.state['state'], again.state['reason']) == ('failed', 'lost')
    assert 'unreadable' in again.state['error']
    with open(job.path('offsets.json'), 'w') as handle:
        handle.write('garbage')
    assert again.offsets() == {'stdout': 0, 'stderr': 0}


def test_unsafe_job_root_is_refused(tmp_path):
    root = tmp_path / 'shared'
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(js.JobStoreError, match='world-writable'):
        js.JobStore(str(root)).start([{'argv': ['true']}])
    not_dir = tmp_path / 'file'
    not_dir.write_text('x')
    with pytest.raises(js.JobStoreError, match='not a folder'):
        js.JobStore(str(not_dir)).select()


def test_id_collision_is_refused(store):
    start(store, id='fixed', argv=['true'])
    with pytest.raises(js.JobStoreError, match='already exists'):
        start(store, id='fixed', argv=['true'])


def test_a_batch_larger_than_the_spawn_window_starts_in_order(store):
    count = js.SPAWN_WINDOW + 8
    jobs = store.start([{'id': 'batch-%02d' % i, 'argv': ['sleep', '30']} for i in range(count)])
    try:
        assert [job.id for job in jobs] == ['batch-%02d' % i for i in range(count)], 'results keep the order of the specs'
        assert all(job.state['state'] == 'running' and js.proc_alive(job.state['pid'], job.state['pid_start_time'])
                   for job in jobs)
        assert not [name for name in os.listdir(store.root) if name.startswith('.new-')], 'no half-made job folders'
    finally:
        for job in jobs:
            store.stop(job, 0)


def test_a_batch_stops_at_the_first_job_that_cannot_start(store, tmp_path):
    start(store, id='taken', argv=['true'])
    with pytest.raises(js.JobStoreError, match='a job with id taken already exists'):
        store.start([{'id': 'first', 'argv': ['true']}, {'id': 'taken', 'argv': ['true']}, {'id': 'never', 'argv': ['true']}])
    assert not os.path.exists(store.job_dir('first')), 'a used id is found before anything starts'
    # A job whose supervisor cannot prepare it (output_path in a missing folder) fails the batch: the other jobs
    # already in flight (supervisors start in parallel) run, and every one of them comes with the error.
    with pytest.raises(js.JobStoreError, match='job broken could not be started: cannot open output_path') as caught:
        store.start([{'id': 'first', 'argv': ['true']},
                     {'id': 'broken', 'argv': ['true'], 'output_path': str(tmp_path / 'missing' / 'log')},
                     {'id': 'also', 'argv': ['true']}])
    assert sorted(job.id for job in caught.value.started) == ['also', 'first']
    assert sorted(job.id for job in store.select()) == ['also', 'first', 'taken'], 'no job runs unreported'
    # A supervisor that cannot prepare the job (output_path in a missing folder) fails the start, leaves nothing.
    with pytest.raises(js.JobStoreError, match='job late could not be started: cannot open output_path'):
        store.start([{'id': 'late', 'argv': ['true'], 'output_path': str(tmp_path / 'missing' / 'log')}])
    assert not os.path.exists(store.job_dir('late'))
    assert not [name for name in os.listdir(store.root) if name.startswith('.new-')]


def test_select_filters(store):
    a = wait(store, start(store, name='build-a', argv=['true']))
    b = wait(store, start(store, name='build-b', argv=['sh', '-c', 'echo b; exit 1']))
    c = start(store, name='test-c', command='sleep 30')

    def ids(jobs):
        return sorted(j.id for j in jobs)

    assert ids(store.select(names=['build-*'], glob=True)) == sorted([a.id, b.id])
    assert ids(store.select(names=['build-*'])) == [], 'no glob unless asked'
    assert ids(store.select(states=['running'])) == [c.id]
    assert ids(store.select(states=['failed', 'completed'])) == sorted([a.id, b.id])
    store.receive(a)
    assert ids(store.select(has_more_data=False)) == [a.id]
    assert ids(store.select(ids=[b.id, 'unknown'])) == [b.id]
    with pytest.raises(js.JobStoreError, match='no job with id unknown'):
        store.select(ids=['unknown'], require=True)
    with pytest.raises(js.JobStoreError, match='no job named nope'):
        store.select(names=['nope'], require=True)
    assert ids(store.select(older_than=3600)) == []
    assert ids(store.select(older_than=0)) == sorted([a.id, b.id]), 'running jobs never match older_than'
    for empty in (dict(ids=[]), dict(names=[], glob=True), dict(states=[]), dict(ids=[], require=True)):
        assert store.select(**empty) == [], 'a filter list that came out empty selects nothing: %r' % empty
    store.stop(c, grace=1)


def test_a_batch_with_a_used_id_starts_nothing(store):
    existing = wait(store, start(store, argv=['true']))
    with pytest.raises(js.JobStoreError, match='a job with id %s already exists' % existing.id):
        store.start([{'name': 'first', 'command': 'sleep 30'}, {'id': existing.id, 'argv': ['true']}])
    assert [job.id for job in store.select()] == [existing.id], 'the first job of the batch was not started'


def test_folders_without_job_json_are_not_jobs(store):
    job = wait(store, start(store, argv=['true']))
    precious = os.path.join(store.root, 'precious')
    os.makedirs(os.path.join(precious, 'sub'))
    with open(os.path.join(precious, 'data.txt'), 'w') as handle:
        handle.write('keep me')
    assert [j.id for j in store.select()] == [job.id]
    assert store.load('precious') is None
    with pytest.raises(js.JobStoreError, match='no job with id precious'):
        store.select(ids=['precious'], require=True)
    assert [j.id for j in store.select(older_than=0)] == [job.id]
    assert os.path.exists(os.path.join(precious, 'data.txt'))


def test_controller_commits_free_fetched_bytes_of_a_running_job(store):
    job = start(store, command='head -c 8388608 /dev/zero | tr "\\0" x; echo; sleep 30', results='controller')
    deadline = time.monotonic() + 10
    while os.path.getsize(job.stdout_path) < 8388609 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.fsync(os.open(job.stdout_path, os.O_RDONLY))
    (piece,) = store.plan_fetch(job)
    assert (piece['stream'], piece['start'], piece['end']) == ('stdout', 0, 8388609)
    probe = os.path.join(store.root, 'probe')
    with open(probe, 'wb') as handle:
        handle.write(b'x' * 65536)
    if not js.punch_hole(probe, 65536):
        pytest.skip('this file system cannot punch holes')
    assert store.commit(job, {'stdout': (0, piece['end'])}) == {'stdout': True}
    st = os.stat(job.stdout_path)
    assert st.st_size == 8388609, 'the running writer keeps its offsets'
    assert st.st_blocks * 512 < 1024 * 1024, 'the fetched bytes no longer take space on the target'
    assert job.offsets()['stdout'] == 8388609 and job.has_more_data()
    assert store.plan_fetch(job) == [], 'nothing new to fetch'
    store.stop(job, grace=1)
    out, _truncated = store.receive(job)
    assert out['stdout'] == b'', 'and nothing fetched comes back'


def test_commit_is_refused_when_someone_received_meanwhile(store):
    job = wait(store, start(store, command='echo abc', results='controller'))
    (piece,) = store.plan_fetch(job)
    store.receive(job)  # another reader consumed it first
    assert store.commit(job, {'stdout': (0, piece['end'])}) == {'stdout': False}
    assert job.offsets()['stdout'] == 4


def test_read_piece_returns_unreceived_bytes_and_refuses_the_rest(store):
    job = wait(store, start(store, command='printf abcdef', results='controller'))
    assert store.read_piece(job, 'stdout', 2, 5) == b'cde'
    assert store.read_piece(job, 'stdout', 6, 6) == b''
    for stream, begin, end, said in [('stdin', 0, 1, 'stdout or stderr'), ('stdout', 4, 9, 'ends before byte 9'),
                                     ('stdout', -1, 2, 'from a start of 0'), ('stdout', 3, 2, 'from a start of 0'),
                                     ('stdout', 0, js.READ_PIECE_MAX + 1, '0 to %d bytes' % js.READ_PIECE_MAX)]:
        with pytest.raises(js.JobStoreError, match=said):
            store.read_piece(job, stream, begin, end)
    assert store.commit(job, {'stdout': (0, 3)}) == {'stdout': True}
    with pytest.raises(js.JobStoreError, match='received by another receive meanwhile'):
        store.read_piece(job, 'stdout', 0, 3)
    assert store.read_piece(job, 'stdout', 3, 6) == b'def'


def test_retention_removes_finished_jobs_after_the_period(store):
    keep = wait(store, start(store, argv=['true']))
    short = wait(store, start(store, argv=['true'], retention=0.5))
    running = start(store, command='sleep 30', retention=0)
    assert store.expire() == [], 'nothing has expired yet'
    time.sleep(1.1)
    assert store.expire() == [short.id]
    assert not os.path.exists(short.dir) and os.path.exists(keep.dir)
    assert os.path.exists(running.dir), 'a running job is never expired'
    store.stop(running, grace=1)
    time.sleep(1.1)
    assert store.expire() == [running.id], 'its retention counts from its end'
    assert os.listdir(os.path.join(store.root, '.expire')) == []


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs, where this machine lets the tests mount one."""
    mount_point = tmp_path / 'small'
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root')
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', str(mount_point)], check=False,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip('this machine does not allow mounting a tmpfs')
    yield mount_point
    subprocess.run(['umount', '-l', str(mount_point)], check=False)


def test_a_later_piece_is_not_copied_where_the_copy_could_fill_the_file_system(small_fs, tmp_path):
    store = js.JobStore(str(small_fs / 'root'))
    go = tmp_path / 'go'
    job = start(store, command='printf first; while [ ! -e %s ]; do sleep 0.02; done; head -c 300000 /dev/zero' % go,
                results='controller')
    deadline = time.monotonic() + 10
    while os.path.getsize(job.stdout_path) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    (piece,) = store.plan_fetch(job)
    assert piece['path'] == job.stdout_path, 'a piece from 0 is the file itself, no copy'
    assert store.commit(job, {'stdout': (0, piece['end'])}) == {'stdout': True}
    go.write_text('')
    wait(store, job)
    (piece,) = store.plan_fetch(job)
    assert (piece['start'], piece['end'], piece['path']) == (5, 300005, None), 'no room to copy: read it instead'
    assert piece['sha256'] == _sha256(b'\0' * 300000)
    assert not os.path.exists(job.path('.pieces'))
    assert store.read_piece(job, 'stdout', 5, 300005) == b'\0' * 300000


def test_a_full_file_system_ends_the_job_failed_with_a_clear_error(small_fs):
    store = js.JobStore(str(small_fs / 'root'))
    job = start(store, name='filler', command='yes "all work and no play"')
    wait(store, job)
    assert job.state['state'] == 'failed'
    assert 'no space left on the file system' in job.state['error']
    # The store stays readable: the job lists, its partial output can be received.
    (listed,) = store.select(names=['filler'])
    assert listed.state['state'] == 'failed'
    out, _truncated = store.receive(listed, keep=True, max_bytes=64)
    assert out['stdout'].startswith(b'all work and no play\n')
    # No room for another job: an error that says so (from the start itself, or from the supervisor preparing
    # the job's folder), not a corrupt store.
    with pytest.raises((OSError, js.JobStoreError), match='No space left on device'):
        start(store, argv=['true'])
    assert not [name for name in os.listdir(store.root) if name.startswith('.new-')]
    assert [j.id for j in store.select()] == [job.id]


def test_a_command_that_fills_the_disk_at_once_is_still_recorded(small_fs, monkeypatch):
    # The file system fills up between preparing the job's folder and recording that the command runs (as a
    # command writing at full speed does on a small disk): the supervisor must still record the job, then its end.
    store = js.JobStore(str(small_fs / 'root'))
    prepare = js._Supervisor._prepare

    def prepare_then_fill(self):  # runs in the forked supervisor
        problem = prepare(self)
        fd = os.open(str(small_fs / 'filler'), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b'x' * 65536)
        except OSError:
            pass
        finally:
            os.close(fd)
        return problem

    monkeypatch.setattr(js._Supervisor, '_prepare', prepare_then_fill)
    job = wait(store, start(store, command='echo hi'))
    assert (job.state['state'], job.state['reason']) == ('failed', 'exit'), job.state
    assert 'no space left on the file system' in job.state['error']


def test_a_running_state_that_cannot_be_recorded_stops_the_command_and_fails_the_start(store, tmp_path, monkeypatch):
    padded = js._padded
    pid_file = tmp_path / 'pid'

    def no_room_when_running(state):  # runs in the forked supervisor, once the command has started
        if state.get('state') == 'running':
            deadline = time.monotonic() + 10
            while not (pid_file.exists() and pid_file.read_text().endswith('\n')) and time.monotonic() < deadline:
                time.sleep(0.01)
            raise OSError(28, 'No space left on device')
        return padded(state)

    monkeypatch.setattr(js, '_padded', no_room_when_running)
    with pytest.raises(js.JobStoreError, match='cannot record the state of the job in .*: No space left on device'):
        start(store, command='echo $$ > %s; exec sleep 30' % pid_file)
    assert [name for name in os.listdir(store.root) if not name.startswith('.expire')] == []
    assert gone(int(pid_file.read_text()), None), 'the command was stopped'


def test_executable_chooses_the_shell(store):
    job = wait(store, start(store, command='echo "$0"', executable='/bin/bash'))
    assert open(job.stdout_path).read() == '/bin/bash\n'
    assert json.load(open(job.path('job.json')))['executable'] == '/bin/bash'


def _sha256(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def test_a_controller_jobs_end_leaves_the_hashes_its_first_plan_uses_once(store):
    job = wait(store, start(store, command='printf out; printf err >&2', results='controller'))
    hashes = os.path.join(job.dir, js.HASHES)
    with open(hashes) as handle:
        assert json.load(handle) == {'stdout': {'start': 0, 'end': 3, 'sha256': _sha256(b'out')},
                                     'stderr': {'start': 0, 'end': 3, 'sha256': _sha256(b'err')}}
    # Planted wrong hashes prove the plan takes them instead of reading the output; they serve one plan only, so
    # a fetch that failed its check is planned again with hashes of the bytes themselves.
    planted = 'f' * 64
    with open(hashes, 'w') as handle:
        json.dump({'stdout': {'start': 0, 'end': 3, 'sha256': planted},
                   'stderr': {'start': 0, 'end': 2, 'sha256': 'e' * 64}}, handle)
    first = {p['stream']: p['sha256'] for p in store.plan_fetch(job)}
    assert first == {'stdout': planted, 'stderr': _sha256(b'err')}, 'an entry for another range is not used'
    assert not os.path.exists(hashes)
    again = {p['stream']: p['sha256'] for p in store.plan_fetch(job)}
    assert again == {'stdout': _sha256(b'out'), 'stderr': _sha256(b'err')}


def test_hashes_at_the_end_cover_only_what_is_not_fetched_yet(store, tmp_path):
    go = tmp_path / 'go'
    job = start(store, command='printf first; while [ ! -e %s ]; do sleep 0.02; done; printf second' % go,
                results='controller')
    deadline = time.monotonic() + 10
    while os.path.getsize(job.stdout_path) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    (piece,) = store.plan_fetch(job)
    assert store.commit(job, {'stdout': (0, piece['end'])}) == {'stdout': True}
    go.write_text('')
    wait(store, job)
    with open(os.path.join(job.dir, js.HASHES)) as handle:
        assert json.load(handle) == {'stdout': {'start': 5, 'end': 11, 'sha256': _sha256(b'second')}}
    (piece,) = store.plan_fetch(job)
    assert (piece['start'], piece['end'], piece['sha256']) == (5, 11, _sha256(b'second'))
    with open(piece['path'], 'rb') as handle:
        assert handle.read() == b'second', 'a later piece is still copied for the controller to fetch'


@pytest.mark.parametrize('content', ['not json', '[1, 2]', '{"stdout": "x"}',
                                     '{"stdout": {"start": 0, "end": 3, "sha256": {"not": "a hash"}}}',
                                     '{"stdout": {"start": "0", "end": 3, "sha256": "%s"}}' % ('a' * 64)])
def test_a_damaged_hashes_file_is_ignored(store, content):
    job = wait(store, start(store, command='printf out', results='controller'))
    with open(os.path.join(job.dir, js.HASHES), 'w') as handle:
        handle.write(content)
    (piece,) = store.plan_fetch(job)
    assert piece['sha256'] == _sha256(b'out')


def test_output_beyond_the_hash_limit_is_hashed_by_the_plan(store, monkeypatch):
    monkeypatch.setattr(js, 'HASH_AT_END', 4)  # read by the supervisor, a fork of this process
    job = wait(store, start(store, command='printf 12345; printf err >&2', results='controller'))
    with open(os.path.join(job.dir, js.HASHES)) as handle:
        assert json.load(handle) == {'stderr': {'start': 0, 'end': 3, 'sha256': _sha256(b'err')}}
    assert {p['stream']: p['sha256'] for p in store.plan_fetch(job)} == {'stdout': _sha256(b'12345'),
                                                                         'stderr': _sha256(b'err')}


def test_a_target_placement_job_leaves_no_hashes(store):
    job = wait(store, start(store, command='echo hi'))
    assert not os.path.exists(os.path.join(job.dir, js.HASHES))
