# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job verbs over a real sshd: ansible-playbook against three loopback hosts, each with its own job root."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid

from ansible_collections.remote.jobs.plugins.module_utils._jobstore import proc_alive

ALL = ('h1', 'h2', 'h3')


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def poll_state(lab, host, job_id, until, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lab.read_state(host, job_id)
        if until(state):
            return state
        time.sleep(0.1)
    raise AssertionError('state of %s on %s never matched: %r' % (job_id, host, state))


def test_start_returns_at_once_and_the_job_outlives_the_connection(lab):
    name = uniq('outlive')
    # No ControlMaster: the SSH connection really closes when the task ends.
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'sleep 8; echo survived'}}],
                   env={'ANSIBLE_SSH_ARGS': '-o ControlMaster=no'})
    assert run.rc == 0, run.output
    for host in ALL:
        job = run.result('start', host)
        assert job['changed'] is True and job['state'] == 'running' and job['name'] == name
        assert job['jobs'][0]['id'] == job['id']
        # The playbook and its connection are gone; the job is still running...
        state = lab.read_state(host, job['id'])
        assert state['state'] == 'running', 'start must return before the job ends'
        assert proc_alive(state['supervisor_pid'], state['supervisor_start_time'])
    for host in ALL:
        # ...and ends on its own with its output.
        job_id = run.result('start', host)['id']
        state = poll_state(lab, host, job_id, lambda s: s['state'] != 'running')
        assert (state['state'], state['reason'], state['rc']) == ('completed', 'exit', 0)
        with open(os.path.join(lab.roots[host], job_id, 'stdout')) as handle:
            assert handle.read() == 'survived\n'


def test_batch_start_and_one_wait_for_many(lab):
    prefix = uniq('batch')
    jobs = [{'name': '%s-%d' % (prefix, i), 'command': 'sleep 0.5; echo %d' % i} for i in range(10)]
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': jobs}, 'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': "{{ started.jobs | map(attribute='id') }}", 'timeout': 60}},
        {'name': 'receive', 'remote.jobs.receive': {'name': "{{ started.jobs | map(attribute='name') }}"}},
    ])
    assert run.rc == 0, run.output
    for host in ALL:
        started = run.result('start', host)
        assert len(started['jobs']) == 10 and 'id' not in started, 'no top-level job fields for a batch'
        waited = run.result('wait', host)
        assert waited['timed_out'] is False and waited['wait_calls'] == 1, 'one round trip waits for all ten'
        assert [j['state'] for j in waited['jobs']] == ['completed'] * 10
        received = run.result('receive', host)
        assert sorted(j['stdout'] for j in received['jobs']) == sorted('%d\n' % i for i in range(10))


def test_info_filters(lab):
    prefix = uniq('info')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': [
            {'name': prefix + '-ok', 'command': 'echo ok'},
            {'name': prefix + '-bad', 'command': 'echo bad; exit 4'},
            {'name': prefix + '-long', 'command': 'sleep 60'},
            {'name': 'other-' + prefix, 'argv': ['true']},
        ]}, 'register': 'started'},
        {'name': 'settle', 'remote.jobs.wait': {'name': [prefix + '-ok', prefix + '-bad', 'other-' + prefix]}},
        {'name': 'consume ok', 'remote.jobs.receive': {'name': prefix + '-ok'}},
        {'name': 'by id', 'remote.jobs.info': {'id': '{{ started.jobs[1].id }}'}},
        {'name': 'by glob', 'remote.jobs.info': {'name': prefix + '-*'}},
        {'name': 'by state', 'remote.jobs.info': {'name': prefix + '-*', 'state': ['running', 'failed']}},
        {'name': 'more data', 'remote.jobs.info': {'name': ['%s-*' % prefix, 'other-' + prefix], 'has_more_data': True}},
        {'name': 'no more data', 'remote.jobs.info': {'name': ['%s-*' % prefix, 'other-' + prefix], 'has_more_data': False}},
        {'name': 'unknown id', 'remote.jobs.info': {'id': 'no-such-job'}},
        {'name': 'cleanup', 'remote.jobs.remove': {'name': ['%s-*' % prefix, 'other-' + prefix], 'force': True}},
    ], hosts='h1')
    assert run.rc == 0, run.output

    def names(task):
        return sorted(j['name'] for j in run.result(task)['jobs'])

    by_id = run.result('by id')
    assert by_id['name'] == prefix + '-bad' and by_id['state'] == 'failed' and by_id['rc'] == 4
    assert by_id['changed'] is False and run.status('by id') == 'ok', 'a failed job does not fail the info task'
    assert names('by glob') == sorted([prefix + '-ok', prefix + '-bad', prefix + '-long'])
    assert names('by state') == sorted([prefix + '-bad', prefix + '-long'])
    assert names('more data') == sorted([prefix + '-bad', prefix + '-long'])
    assert names('no more data') == sorted([prefix + '-ok', 'other-' + prefix])
    assert run.result('unknown id')['jobs'] == []
    job = run.result('by glob')['jobs'][0]
    for key in ('id', 'name', 'state', 'has_more_data', 'location', 'command', 'pid', 'rc', 'reason', 'started',
                'finished', 'results', 'stdout_path', 'stderr_path'):
        assert key in job, key


def test_keep_versus_consume(lab):
    name = uniq('keep')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'printf "0123456789"; echo oops >&2'}},
        {'name': 'keep', 'remote.jobs.receive': {'name': name, 'keep': True, 'wait': True, 'timeout': 30}},
        {'name': 'keep again', 'remote.jobs.receive': {'name': name, 'keep': True}},
        {'name': 'info after keep', 'remote.jobs.info': {'name': name}},
        {'name': 'part', 'remote.jobs.receive': {'name': name, 'max_bytes': 4}},
        {'name': 'info after part', 'remote.jobs.info': {'name': name}},
        {'name': 'rest', 'remote.jobs.receive': {'name': name}},
        {'name': 'info after rest', 'remote.jobs.info': {'name': name}},
        {'name': 'nothing new', 'remote.jobs.receive': {'name': name}},
    ])
    assert run.rc == 0, run.output
    for host in ALL:
        keep, again = run.result('keep', host), run.result('keep again', host)
        assert keep['stdout'] == again['stdout'] == '0123456789' and keep['stderr'] == 'oops\n'
        assert keep['changed'] is False and keep['has_more_data'] is True
        assert run.result('info after keep', host)['has_more_data'] is True
        part = run.result('part', host)
        assert part['stdout'] == '0123' and part['stderr'] == 'oops', 'max_bytes bounds each stream'
        assert part['truncated'] is True and part['changed'] is True
        assert run.result('info after part', host)['has_more_data'] is True
        rest = run.result('rest', host)
        assert rest['stdout'] == '456789' and rest['stderr'] == '\n' and rest['has_more_data'] is False
        assert run.result('info after rest', host)['has_more_data'] is False
        nothing = run.result('nothing new', host)
        assert nothing['stdout'] == '' and nothing['changed'] is False


def phased_command(marker_dir, phases=3, lines=10, stderr=False):
    """A job that prints `lines` lines per phase and waits for marker_dir/go<N> before each next phase."""
    parts = []
    for phase in range(phases):
        if phase:
            parts.append('while [ ! -e %s/go%d ]; do sleep 0.02; done' % (marker_dir, phase))
        for i in range(phase * lines + 1, (phase + 1) * lines + 1):
            parts.append('echo "line %d"' % i + ('; echo "err %d" >&2' % i if stderr else ''))
    return '; '.join(parts)


def phase_tasks(name, marker_dir, phase, lines=10):
    """Tasks that let a phased job go on to `phase` and wait until it has printed that phase."""
    return [
        {'name': 'go %d' % phase, 'ansible.builtin.file': {'path': '%s/go%d' % (marker_dir, phase), 'state': 'touch'}},
        {'name': 'printed %d' % phase, 'ansible.builtin.wait_for': {
            'path': '{{ started.stdout_path }}', 'search_regex': 'line %d\n' % ((phase + 1) * lines), 'timeout': 60}},
    ]


def test_receive_mid_run_returns_only_new_output(lab, tmp_path):
    name = uniq('mid')
    markers = str(tmp_path)
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': phased_command(markers)}, 'register': 'started'},
        {'name': 'printed 0', 'ansible.builtin.wait_for': {'path': '{{ started.stdout_path }}', 'search_regex': 'line 10\n', 'timeout': 60}},
        {'name': 'r1', 'remote.jobs.receive': {'name': name}},
    ] + phase_tasks(name, markers, 1) + [
        {'name': 'r2', 'remote.jobs.receive': {'name': name}},
        {'name': 'go 2', 'ansible.builtin.file': {'path': markers + '/go2', 'state': 'touch'}},
        {'name': 'r3', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30, 'auto_remove': True}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    r1, r2, r3 = (run.result(t) for t in ('r1', 'r2', 'r3'))
    assert r1['state'] == 'running' and r1['stdout'] == ''.join('line %d\n' % i for i in range(1, 11))
    assert r2['state'] == 'running' and r2['stdout'] == ''.join('line %d\n' % i for i in range(11, 21)), \
        'the second receive returns only new output'
    assert r1['stdout'] + r2['stdout'] + r3['stdout'] == ''.join('line %d\n' % i for i in range(1, 31))
    assert r3['state'] == 'completed' and r3['removed'] is True
    assert r3['id'] not in lab.job_dirs('h1'), 'auto_remove removed the job after the full receive'


def test_wait_all_any_timeout_and_slices(lab, tmp_path):
    fast, slow = uniq('fast'), uniq('slow')
    go = str(tmp_path / 'go')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': [
            {'name': fast, 'command': 'sleep 0.3'},
            {'name': slow, 'command': 'while [ ! -e %s ]; do sleep 0.02; done' % go}]}},
        {'name': 'any', 'remote.jobs.wait': {'name': [fast, slow], 'any': True, 'timeout': 30}},
        {'name': 'short', 'remote.jobs.wait': {'name': slow, 'timeout': 0.5}},
        {'name': 'strict', 'remote.jobs.wait': {'name': slow, 'timeout': 0.5, 'fail_on_timeout': True},
         'ignore_errors': True},
        {'name': 'sliced', 'remote.jobs.wait': {'name': [fast, slow], 'timeout': 2.5},
         'vars': {'remote_jobs_wait_slice': 1}},
        {'name': 'go', 'ansible.builtin.file': {'path': go, 'state': 'touch'}, 'run_once': True},
        {'name': 'all', 'remote.jobs.wait': {'name': [fast, slow], 'timeout': 60}},
        {'name': 'cleanup', 'remote.jobs.remove': {'name': [fast, slow]}},
    ], hosts='h1,h2')
    assert run.rc == 0, run.output
    for host in ('h1', 'h2'):
        states = {j['name']: j['state'] for j in run.result('any', host)['jobs']}
        assert states == {fast: 'completed', slow: 'running'}
        short = run.result('short', host)
        assert short['timed_out'] is True and run.status('short', host) == 'ok' and short['state'] == 'running'
        assert run.status('strict', host) == 'failed'
        assert run.result('strict', host)['msg'].startswith('1 of 1 job(s) still running after 0.5 seconds')
        sliced = run.result('sliced', host)
        assert sliced['timed_out'] is True and sliced['wait_calls'] >= 2, 'a wait longer than a slice is sliced'
        # Progress at normal verbosity: one line per slice, not per poll.
        progress = re.findall(r'^sliced: %s: 1 of 2 job\(s\) finished after \d+s$' % host, run.output, re.M)
        assert 1 <= len(progress) <= sliced['wait_calls'] - 1, run.output
        done = run.result('all', host)
        assert done['timed_out'] is False and [j['state'] for j in done['jobs']] == ['completed', 'completed']


def test_stop_kills_the_whole_process_tree(lab):
    name = uniq('tree')
    command = 'sleep 300 & echo $!; sh -c "sleep 300 & echo \\$!; wait" & setsid sleep 300 & echo $!; wait'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': command}, 'register': 'started'},
        {'name': 'three pids', 'ansible.builtin.wait_for': {'path': '{{ started.stdout_path }}',
                                                            'search_regex': '^\\d+\\n\\d+\\n\\d+\\n', 'timeout': 60}},
        {'name': 'pids', 'remote.jobs.receive': {'name': name, 'keep': True}},
        {'name': 'stop', 'remote.jobs.stop': {'name': name, 'grace': 2}},
        {'name': 'stop again', 'remote.jobs.stop': {'name': name}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    pids = [int(p) for p in run.result('pids')['stdout'].split()]
    assert len(pids) == 3
    stopped = run.result('stop')
    assert stopped['changed'] is True and (stopped['state'], stopped['reason']) == ('stopped', 'stop')
    for pid in pids + [stopped['pid']]:
        assert not proc_alive(pid), 'process %d of the job survived stop' % pid
    assert run.result('stop again')['changed'] is False


STUBBORN = 'sh -c \'trap "" TERM; echo $$; exec sleep 300\''  # prints its pid, ignores SIGTERM


def printed_pids(path, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as handle:
            pids = [int(p) for p in handle.read().split()]
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError('fewer than %d pids in %s' % (count, path))


def lose(lab, host, job_id):
    """SIGKILL a job's supervisor only (a kill -9, the OOM killer): the job is lost, its command runs on."""
    state = lab.read_state(host, job_id)
    os.kill(state['supervisor_pid'], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc_alive(state['supervisor_pid'], state['supervisor_start_time']) and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def kill_quietly(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_stop_kills_children_that_ignore_sigterm_after_the_command_died_of_it(lab):
    # The shell dies of the SIGTERM, its supervisor records the end and exits; the two children that ignore
    # SIGTERM (one in the job's process group, one that left it with setsid) must still be killed after grace.
    name = uniq('stubborn')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': '%s & setsid %s & sleep 300'
                                                % (STUBBORN, STUBBORN)}, 'register': 'started'},
        {'name': 'two pids', 'ansible.builtin.wait_for': {'path': '{{ started.stdout_path }}',
                                                          'search_regex': '^\\d+\\n\\d+\\n', 'timeout': 60}},
        {'name': 'pids', 'remote.jobs.receive': {'name': name, 'keep': True}},
        {'name': 'stop', 'remote.jobs.stop': {'name': name, 'grace': 1}},
    ], hosts='h1')
    pids = [int(p) for r in run.records if r['task'] == 'pids' for p in r['result']['stdout'].split()]
    try:
        assert run.rc == 0, run.output
        assert len(pids) == 2
        stopped = run.result('stop')
        assert stopped['changed'] is True and (stopped['state'], stopped['reason']) == ('stopped', 'stop')
        time.sleep(0.2)
        for pid in pids:
            assert not proc_alive(pid), 'process %d ignored SIGTERM and survived stop' % pid
    finally:
        kill_quietly(pids)


def test_stop_and_remove_force_end_what_still_runs_of_a_lost_job(lab):
    kids, command = uniq('lostkids'), uniq('lostcmd')
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'jobs': [
        {'name': kids, 'command': 'sleep 300 & echo $!; %s & wait' % STUBBORN},
        {'name': command, 'command': 'sleep 300'}]}}], hosts='h1')
    assert run.rc == 0, run.output
    jobs = {job['name']: job for job in run.result('start')['jobs']}
    pids = printed_pids(jobs[kids]['stdout_path'], 2)
    # kids: supervisor and shell killed, the shell's children run on in its process group; command: only the
    # supervisor killed, the command runs on.
    kids_state = lose(lab, 'h1', jobs[kids]['id'])
    os.kill(kids_state['pid'], signal.SIGKILL)
    command_state = lose(lab, 'h1', jobs[command]['id'])
    try:
        run = lab.play([
            {'name': 'stop check', 'remote.jobs.stop': {'name': kids, 'grace': 1}, 'check_mode': True},
            {'name': 'stop', 'remote.jobs.stop': {'name': kids, 'grace': 1}},
            {'name': 'stop again', 'remote.jobs.stop': {'name': kids, 'grace': 1}},
            {'name': 'remove', 'remote.jobs.remove': {'name': command, 'force': True}},
        ], hosts='h1')
        assert run.rc == 0, run.output
        time.sleep(0.2)
        for pid in pids:
            assert not proc_alive(pid), 'process %d of the lost job survived stop' % pid
        assert not proc_alive(command_state['pid'], command_state['pid_start_time']), \
            'remove force left the lost job\'s command running, out of reach'
        assert run.result('stop check')['changed'] is True
        stopped = run.result('stop')
        assert stopped['changed'] is True and (stopped['state'], stopped['reason']) == ('failed', 'lost')
        assert 'stop ended what was left of its command' in stopped['error']
        assert run.result('stop again')['changed'] is False
        removed = run.result('remove')
        assert removed['removed'] is True and removed['id'] not in lab.job_dirs('h1')
    finally:
        kill_quietly(pids + [command_state['pid']])


def test_timeout_is_enforced_on_the_target_without_a_controller(lab):
    name = uniq('timeout')
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'sleep 60', 'timeout': 1}}],
                   hosts='h2')
    assert run.rc == 0, run.output
    job = run.result('start', 'h2')
    # Nobody polls from the controller: the supervisor alone ends the job.
    state = poll_state(lab, 'h2', job['id'], lambda s: s['state'] != 'running')
    assert (state['state'], state['reason']) == ('stopped', 'timeout')
    assert not proc_alive(state['pid'], state['pid_start_time'])


def test_remove_refuses_running_jobs_without_force(lab):
    name = uniq('rm')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'sleep 60'}, 'register': 'started'},
        {'name': 'refused', 'remote.jobs.remove': {'name': name}, 'ignore_errors': True},
        {'name': 'still there', 'remote.jobs.info': {'name': name}},
        {'name': 'check forced', 'remote.jobs.remove': {'name': name, 'force': True}, 'check_mode': True},
        {'name': 'forced', 'remote.jobs.remove': {'name': name, 'force': True}},
        {'name': 'again', 'remote.jobs.remove': {'id': '{{ started.id }}'}},
    ], hosts='h3')
    assert run.rc == 0, run.output
    assert run.status('refused', 'h3') == 'failed'
    assert 'refusing to remove running job(s)' in run.result('refused', 'h3')['msg']
    assert 'force: true' in run.result('refused', 'h3')['msg']
    assert run.result('still there', 'h3')['state'] == 'running'
    assert run.result('check forced', 'h3')['changed'] is True
    forced = run.result('forced', 'h3')
    assert forced['changed'] is True and forced['removed'] is True and forced['state'] == 'stopped'
    assert forced['id'] not in lab.job_dirs('h3')
    assert not proc_alive(forced['pid'])
    assert run.result('again', 'h3')['changed'] is False, 'removing a removed job is idempotent'


def test_delegate_to_uses_the_delegated_hosts_job_root_and_name(lab, tmp_path):
    name = uniq('delegated')
    results_dir = tmp_path / 'fetched'
    run = lab.play([
        {'name': 'start', 'delegate_to': 'h2', 'remote.jobs.start': {
            'name': name, 'command': 'echo from h2', 'results': 'controller', 'results_dir': str(results_dir)}},
        {'name': 'receive', 'delegate_to': 'h2', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}},
        {'name': 'on h1', 'remote.jobs.info': {'name': name}},
        {'name': 'on h2', 'delegate_to': 'h2', 'remote.jobs.info': {'name': name}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    job_id = run.result('start')['id']
    assert lab.job_dirs('h2').count(job_id) == 1 and job_id not in lab.job_dirs('h1'), 'in the job root of h2'
    assert run.result('on h1')['jobs'] == [] and run.result('on h2')['id'] == job_id
    received = run.result('receive')
    assert received['dest'] == str(results_dir / 'h2' / job_id), 'the controller folder is named after h2'
    assert (results_dir / 'h2' / job_id / 'stdout').read_text() == 'from h2\n'


def test_a_batch_that_fails_part_way_reports_the_jobs_it_started(lab, tmp_path):
    name = uniq('partial')
    run = lab.play([{'name': 'partial', 'ignore_errors': True, 'remote.jobs.start': {'jobs': [
        {'name': name, 'command': 'sleep 30'},
        {'name': name, 'argv': ['true'], 'output_path': str(tmp_path / 'missing' / 'x.log')}]}},
        {'name': 'listed', 'remote.jobs.info': {'name': name}},
        {'name': 'clean', 'remote.jobs.remove': {'name': name, 'force': True}}], hosts='h1')
    assert run.rc == 0, run.output
    failed = run.result('partial')
    assert run.status('partial') == 'failed' and failed['changed'] is True
    assert 'cannot open output_path' in failed['msg'] and 'were started and run' in failed['msg']
    assert [job['id'] for job in failed['jobs']] == [job['id'] for job in run.result('listed')['jobs']]
    assert [job['state'] for job in failed['jobs']] == ['running']


def test_an_empty_selector_list_selects_nothing_and_other_folders_are_not_jobs(lab, tmp_path):
    # A filtered list that comes out empty (a `selectattr` with no match) must not mean "every job on the host".
    root = tmp_path / 'root'
    precious = os.path.join(str(root), 'precious')
    os.makedirs(precious)
    root.chmod(0o700)
    with open(os.path.join(precious, 'data.txt'), 'w') as handle:
        handle.write('keep me')
    name = uniq('empty')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': [{'name': name, 'command': 'sleep 60'},
                                                         {'name': name, 'command': 'echo done'}]}},
        {'name': 'settle', 'remote.jobs.wait': {'name': name, 'any': True, 'timeout': 30}},
        {'name': 'stop none', 'remote.jobs.stop': {'id': '{{ [] }}'}},
        {'name': 'receive none', 'remote.jobs.receive': {'id': '{{ [] }}'}},
        {'name': 'remove none', 'remote.jobs.remove': {'id': '{{ [] }}', 'force': True}},
        {'name': 'remove no state', 'remote.jobs.remove': {'state': '{{ [] }}'}},
        {'name': 'info none', 'remote.jobs.info': {'name': '{{ [] }}'}},
        {'name': 'old', 'remote.jobs.remove': {'older_than': '0s'}},
        {'name': 'unknown', 'remote.jobs.receive': {'id': 'precious'}, 'ignore_errors': True},
        {'name': 'all', 'remote.jobs.info': {'name': name}},
        {'name': 'clean', 'remote.jobs.remove': {'name': name, 'force': True}},
    ], hosts='h2', vars={'remote_jobs_root': str(root)})
    assert run.rc == 0, run.output
    for task in ('stop none', 'receive none', 'remove none', 'remove no state', 'info none'):
        result = run.result(task, 'h2')
        assert (result['changed'], result['jobs']) == (False, []), task
    assert 'precious' not in [job['id'] for job in run.result('old', 'h2')['jobs']]
    assert os.path.exists(os.path.join(precious, 'data.txt')), 'a folder that is not a job is left alone'
    assert 'no job with id precious' in run.result('unknown', 'h2')['msg']
    states = sorted(job['state'] for job in run.result('all', 'h2')['jobs'])
    assert states == ['running'], 'the finished one went with older_than, the running one was not stopped'


def test_killed_supervisor_and_command_are_reported_lost(lab):
    name = uniq('lost')
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'sleep 300'}}], hosts='h1')
    assert run.rc == 0, run.output
    job = run.result('start')
    state = lab.read_state('h1', job['id'])
    os.kill(state['supervisor_pid'], signal.SIGKILL)
    os.killpg(state['pid'], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc_alive(state['supervisor_pid'], state['supervisor_start_time']) and time.monotonic() < deadline:
        time.sleep(0.05)
    run = lab.play([
        {'name': 'info', 'remote.jobs.info': {'name': name}},
        {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 5}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    info = run.result('info')
    assert (info['state'], info['reason']) == ('failed', 'lost') and 'supervisor' in info['error']
    assert run.result('wait')['timed_out'] is False, 'a lost job has ended'
    assert lab.read_state('h1', job['id'])['reason'] == 'lost', 'lost is persisted'


BAD_INPUT = [
    ('info', {'id': '../x'}, r"invalid job id '\.\./x'"),
    ('receive', {'id': ['ok', '../../etc']}, r'invalid job id'),
    ('stop', {'id': 'a/b'}, r'invalid job id'),
    ('remove', {'id': '..'}, r'invalid job id'),
    ('receive', {'id': 'no-such-job'}, r'no job with id no-such-job'),
    ('wait', {'id': 'no-such-job'}, r'no job with id no-such-job'),
    ('stop', {'name': 'no-such-name'}, r'no job named no-such-name'),
    ('start', {'command': 'true', 'argv': ['true']}, r'mutually exclusive: command\|argv'),
    ('start', {'name': 'nothing'}, r'one of command or argv is required'),
    ('start', {'command': 'true', 'results': 'nowhere'}, r'value of results must be one of: target, controller'),
    ('start', {'command': 'true', 'bogus': 1}, r'Unsupported parameters .*bogus'),
    ('start', {'command': 'true', 'timeout': -1}, r'timeout must not be negative'),
    ('start', {'command': 'true', 'timeout': 0}, r'timeout must be a positive'),
    ('start', {'jobs': [{'name': 'x'}]}, r'one of command or argv is required'),
    ('start', {'jobs': [{'command': 'true', 'id': '../evil'}]}, r'invalid job id'),
    ('start', {'argv': []}, r'argv must name a program'),
    ('receive', {'name': 'x', 'keep': True, 'auto_remove': True}, r'keep and auto_remove contradict'),
    ('wait', {}, r'one of the following is required: id, name'),
    ('info', {'state': ['sleeping']}, r'value of state must be one or more of'),
    ('remove', {'older_than': 'soon'}, r'older_than: expected a duration'),
    ('remove', {}, r'one of the following is required'),
    ('start', {'jobs': [{'id': 'twice', 'argv': ['true']}, {'id': 'twice', 'argv': ['true']}]},
     r'job id twice appears more than once in jobs'),
    ('start', {'argv': ['']}, r'argv\[0\] is empty'),
    ('start', {'command': 'echo a\x00b'}, r'command contains a NUL byte'),
    ('start', {'argv': ['echo', 'a\x00']}, r'argv\[1\] contains a NUL byte'),
    ('start', {'command': 'true', 'env': {'A=B': 'x'}}, r"env: 'A=B' is not a variable name"),
    ('start', {'command': 'true', 'env': {'TOKEN': 'se\x00cret'}}, r'the value of env\.TOKEN contains a NUL byte'),
    ('start', {'command': 'true', 'env': {'EMPTY': None}}, r'env\.EMPTY has no value'),
    ('start', {'jobs': [{'argv': ['true'], 'chdir': '/tmp\x00'}]}, r'chdir contains a NUL byte'),
    ('start', {'command': 'true', 'timeout': 10 ** 400}, r'timeout is too large'),
    ('stop', {'name': 'x', 'grace': 10 ** 30}, r'grace is too large'),
    ('remove', {'older_than': '9' * 400}, r'older_than is too large'),
    ('start', {'command': 'true', 'retention': '9' * 400}, r'retention is too large'),
]


def test_bad_input_fails_with_a_clear_message_and_touches_nothing(lab, tmp_path):
    root = str(tmp_path / 'never-created')
    tasks = [{'name': 'bad %d' % i, 'remote.jobs.%s' % verb: dict(args, job_root=root), 'ignore_errors': True}
             for i, (verb, args, _message) in enumerate(BAD_INPUT)]
    before = {host: lab.job_dirs(host) for host in ALL}
    run = lab.play(tasks, hosts='h1', extra_args=['-vvv'])
    for i, (verb, args, pattern) in enumerate(BAD_INPUT):
        assert run.status('bad %d' % i) == 'failed', (verb, args)
        msg = run.result('bad %d' % i)['msg']
        assert re.search(pattern, msg), '%s %r: %r does not match %r' % (verb, args, msg, pattern)
        assert '\n' not in msg.strip(), 'one line: %r' % msg
    assert 'Traceback' not in run.output
    assert not os.path.exists(root), 'bad input created the job root'
    assert {host: lab.job_dirs(host) for host in ALL} == before


def test_secrets_reach_no_file_and_no_output(lab):
    env_secret, stdin_secret = 'env-' + uuid.uuid4().hex, 'stdin-' + uuid.uuid4().hex
    name = uniq('secret')
    # The job proves it saw both values by printing their lengths; neither value is printed anywhere.
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name,
                                                'command': 'read line; printf "%s %s\\n" "$(printf %s "$TOKEN" | wc -c)" "$(printf %s "$line" | wc -c)"',
                                                'env': {'TOKEN': env_secret}, 'stdin': stdin_secret + '\n'}},
        {'name': 'batch', 'remote.jobs.start': {'jobs': [{'name': name + '-b', 'argv': ['true'],
                                                          'env': {'TOKEN': env_secret}}]}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}},
    ], hosts='h1', extra_args=['-vvv'])
    assert run.rc == 0, run.output
    assert run.result('receive')['stdout'] == '%d %d\n' % (len(env_secret), len(stdin_secret))
    for secret in (env_secret, stdin_secret):
        assert secret not in run.output
        assert secret not in json.dumps(run.records)
        for job_id in lab.job_dirs('h1'):
            folder = os.path.join(lab.roots['h1'], job_id)
            for file_name in os.listdir(folder):
                with open(os.path.join(folder, file_name), 'rb') as handle:
                    assert secret.encode() not in handle.read(), (job_id, file_name)


def test_check_mode_changes_nothing(lab):
    name = uniq('check')
    before = lab.job_dirs('h2')
    # A check run goes through start -> wait -> receive -> stop by the registered id: start says which job it would
    # start (id included), the later tasks warn that check mode started nothing instead of failing.
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'true'}, 'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': '{{ started.id }}', 'timeout': 30}},
        {'name': 'receive', 'remote.jobs.receive': {'id': '{{ started.id }}', 'wait': True, 'timeout': 30}},
        {'name': 'stop', 'remote.jobs.stop': {'name': name}},
    ], hosts='h2', check=True)
    assert run.rc == 0, run.output
    started = run.result('start', 'h2')
    assert started['changed'] is True and started['state'] == 'running' and started['name'] == name
    assert re.fullmatch(r'[0-9]{8}T[0-9]{6}-[0-9a-f]{6}', started['id'])
    for task, missing in (('wait', 'id ' + started['id']), ('receive', 'id ' + started['id']), ('stop', 'name ' + name)):
        result = run.result(task, 'h2')
        assert result['jobs'] == [] and result['changed'] is False, task
        assert 'check mode: no job with %s' % missing in ' '.join(result.get('warnings') or []), (task, result)
    assert 'check mode: no job with id %s' % started['id'] in run.output, 'the warning is shown'
    assert lab.job_dirs('h2') == before


def test_job_root_comes_from_the_host_variable(lab):
    # Every host got its own remote_jobs_root; a job started on h1 is not visible on h2.
    name = uniq('roots')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'argv': ['true']}, 'when': "inventory_hostname == 'h1'"},
        {'name': 'info', 'remote.jobs.info': {'name': name}},
    ])
    assert run.rc == 0, run.output
    assert len(run.result('info', 'h1')['jobs']) == 1
    assert run.result('info', 'h2')['jobs'] == [] and run.result('info', 'h3')['jobs'] == []
    assert run.result('start', 'h1')['stdout_path'].startswith(lab.roots['h1'] + os.sep)


def test_retention_removes_finished_jobs_automatically(lab):
    name = uniq('ret')
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': [{'name': name + '-short', 'argv': ['true'], 'retention': '1s'},
                                                         {'name': name + '-kept', 'argv': ['true']}]}},
        {'name': 'pause', 'ansible.builtin.pause': {'seconds': 3}},
        {'name': 'info', 'remote.jobs.info': {'name': name + '-*'}},
        {'name': 'bad', 'remote.jobs.start': {'command': 'true', 'retention': 'forever'}, 'ignore_errors': True},
        {'name': 'recent', 'remote.jobs.remove': {'name': name + '-*', 'older_than': '1h'}},
        {'name': 'older', 'remote.jobs.remove': {'name': name + '-*', 'older_than': 1}},
    ], hosts='h3')
    assert run.rc == 0, run.output
    info = run.result('info', 'h3')
    short_id = [j['id'] for j in run.result('start', 'h3')['jobs'] if j['name'] == name + '-short']
    assert info['expired'] == short_id
    assert [j['name'] for j in info['jobs']] == [name + '-kept']
    assert 'retention: expected a duration' in run.result('bad', 'h3')['msg']
    assert run.result('recent', 'h3')['changed'] is False, 'nothing finished an hour ago'
    older = run.result('older', 'h3')
    assert older['changed'] is True and older['name'] == name + '-kept' and older['removed'] is True
