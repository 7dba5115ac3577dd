# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative jobs (remote.jobs.job) driven directly on a real job store, with real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import os
import time
import uuid

import pytest

from ansible_collections.remote.jobs.plugins.module_utils import _jobstore as js
from ansible_collections.remote.jobs.plugins.module_utils._args import JobArgumentError
from ansible_collections.remote.jobs.plugins.module_utils._declare import check_declare, declare, definitions


@pytest.fixture
def store(tmp_path):
    return js.JobStore(str(tmp_path / 'root'))


def params(**overrides):
    """Task parameters as the module sees them after its argument spec (defaults filled in)."""
    base = dict(job_root=None, name=None, state='started', recreate=False, results='target', jobs=None,
                wait_timeout=None, max_bytes=1024 * 1024, grace=5.0, command=None, argv=None, chdir=None, env=None,
                stdin=None, timeout=None, output_path=None, results_dir=None, retention=None)
    base.update(overrides)
    return base


def run(store, check_mode=False, diff=False, final=True, **overrides):
    p = params(**overrides)
    items = check_declare(p)
    return declare(store, items, check_mode=check_mode, diff=diff, grace=1, wait_timeout=p['wait_timeout'],
                   final=final, max_bytes=p['max_bytes'], single=p['jobs'] is None)


def gone(pid, start_time, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not js.proc_alive(pid, start_time):
            return True
        time.sleep(0.05)
    return False


# --- validation -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('overrides, message', [
    (dict(name='x'), r'job x \(state started\): one of command or argv is required'),
    (dict(name='x', state='finished'), r'job x \(state finished\): one of command or argv is required'),
    (dict(name='x', command='true', argv=['true']), r'command and argv are mutually exclusive'),
    (dict(name='x', argv=[]), r'argv must name a program'),
    (dict(name='x', command='true', timeout=0), r'timeout must be a positive'),
    (dict(name='x', command='true', results='controller', output_path='/tmp/o'),
     r'output_path .* needs results: target'),
    (dict(name='  ', command='true'), r'name: a job needs a non-empty name'),
    (dict(name='x', command='true', wait_timeout=-1), r'wait_timeout must not be negative'),
    (dict(name='x', command='true', grace=-1), r'grace must not be negative'),
    (dict(name='x', command='true', retention='soon'), r'retention: expected a duration'),
    (dict(jobs=[{'name': 'a', 'command': 'true'}, {'name': 'a', 'state': 'absent'}]),
     r'jobs\[1\]: the name a is declared twice'),
    (dict(jobs=[{'name': 'a', 'state': 'stopped', 'command': 'true', 'argv': ['x']}]),
     r'job a \(state stopped\): command and argv are mutually exclusive'),
    (dict(jobs=[{'name': None, 'command': 'true'}]), r'jobs\[0\]: a job needs a non-empty name'),
])
def test_bad_declarations_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(JobArgumentError, match=message):
        check_declare(params(**overrides))


def test_stopped_and_absent_need_no_definition():
    assert check_declare(params(name='x', state='stopped'))[0]['state'] == 'stopped'
    assert check_declare(params(name='x', state='absent'))[0]['state'] == 'absent'


def test_items_inherit_state_recreate_and_results_from_the_task():
    items = definitions(params(state='finished', recreate=True, results='controller', jobs=[
        {'name': 'a', 'command': 'true'},
        {'name': 'b', 'command': 'true', 'state': 'started', 'recreate': False, 'results': 'target'},
    ]))
    assert [(i['state'], i['recreate'], i['results']) for i in items] == [
        ('finished', True, 'controller'), ('started', False, 'target')]


# --- the four states --------------------------------------------------------------------------------------------

def test_started_check_then_start_then_unchanged(store):
    name = 'svc-' + uuid.uuid4().hex[:6]
    check = run(store, check_mode=True, name=name, command='sleep 30')
    assert check['changed'] is True and check['action'] == 'started' and check['jobs'] == []
    assert not os.path.exists(store.root), 'check mode created nothing, not even the job root'
    first = run(store, name=name, command='sleep 30')
    assert first['changed'] is True and first['action'] == 'started' and first['state'] == 'running'
    second = run(store, name=name, command='sleep 30')
    assert second['changed'] is False and second['action'] == 'none' and second['id'] == first['id']
    assert [j.id for j in store.select(names=[name])] == [first['id']], 'still exactly one job of that name'
    # A finished job of that name also counts as started.
    store.stop(store.load(first['id']), 1)
    third = run(store, name=name, command='sleep 30')
    assert third['changed'] is False and third['state'] == 'stopped'
    assert os.listdir(store.root) == [first['id']], 'the job root holds the job and nothing else'


def test_finished_waits_returns_output_and_keeps_it(store):
    name = 'once-' + uuid.uuid4().hex[:6]
    first = run(store, name=name, command='sleep 0.3; echo done; echo warn >&2', state='finished')
    assert first['changed'] is True and first['action'] == 'started'
    assert (first['state'], first['rc']) == ('completed', 0)
    assert first['stdout'] == 'done\n' and first['stderr'] == 'warn\n' and first['stdout_lines'] == ['done']
    assert first['timed_out'] is False
    second = run(store, name=name, command='sleep 0.3; echo done; echo warn >&2', state='finished')
    assert second['changed'] is False and second['id'] == first['id']
    assert second['stdout'] == 'done\n', 'output is kept, so a second run returns it again'
    assert second['has_more_data'] is True


def test_finished_waits_for_a_job_started_earlier_without_changing_anything(store):
    name = 'later-' + uuid.uuid4().hex[:6]
    started = run(store, name=name, command='sleep 0.5; echo late')
    assert started['state'] == 'running'
    finished = run(store, name=name, command='sleep 0.5; echo late', state='finished')
    assert finished['changed'] is False and finished['id'] == started['id']
    assert finished['state'] == 'completed' and finished['stdout'] == 'late\n'


def test_finished_in_check_mode_waits_for_nothing(store):
    name = 'nowait-' + uuid.uuid4().hex[:6]
    started = run(store, name=name, command='sleep 30')
    began = time.monotonic()
    check = run(store, check_mode=True, name=name, command='sleep 30', state='finished', wait_timeout=20)
    assert time.monotonic() - began < 5, 'check mode does not wait for the end'
    assert (check['changed'], check['state'], check['id']) == (False, 'running', started['id'])
    assert 'timed_out' not in check and 'failed' not in check
    run(store, name=name, state='absent')


def test_finished_with_a_failing_job_reaches_the_state_and_reports_it(store):
    result = run(store, name='bad-' + uuid.uuid4().hex[:6], command='echo nope >&2; exit 3', state='finished')
    assert 'failed' not in result, 'the job failed, the declaration did not'
    assert (result['state'], result['rc'], result['stderr']) == ('failed', 3, 'nope\n')


def test_wait_timeout_pending_then_failed_and_the_job_keeps_running(store):
    name = 'slow-' + uuid.uuid4().hex[:6]
    pending = run(store, name=name, command='sleep 30', state='finished', wait_timeout=0.2, final=False)
    assert pending['pending'] is True and pending['timed_out'] is True and pending['changed'] is True
    assert 'failed' not in pending and 'stdout' not in pending, 'a pending slice returns no output'
    failed = run(store, name=name, command='sleep 30', state='finished', wait_timeout=0.2)
    assert failed['failed'] is True and failed['changed'] is False
    assert failed['msg'] == '1 job(s) still running after waiting 0.2 seconds (wait_timeout): %s (%s)' % (
        name, pending['id'])
    assert store.load(pending['id']).state['state'] == 'running'
    run(store, name=name, state='absent')


def test_stopped_stops_every_running_job_of_the_name(store):
    name = 'stop-' + uuid.uuid4().hex[:6]
    jobs = store.start([{'name': name, 'command': 'sleep 30'}, {'name': name, 'command': 'sleep 30'},
                        {'name': 'other-' + name, 'command': 'sleep 30'}])
    check = run(store, check_mode=True, name=name, state='stopped')
    assert check['changed'] is True and all(j.reload() or j.state['state'] == 'running' for j in jobs)
    first = run(store, name=name, state='stopped')
    assert first['changed'] is True and first['action'] == 'stopped'
    assert sorted(j['id'] for j in first['jobs']) == sorted(j.id for j in jobs[:2])
    assert {j['state'] for j in first['jobs']} == {'stopped'}
    for job in jobs[:2]:
        assert gone(job.state['pid'], job.state['pid_start_time'])
    assert store.load(jobs[2].id).state['state'] == 'running', 'another name is left alone'
    second = run(store, name=name, state='stopped')
    assert second['changed'] is False and second['action'] == 'none'
    nothing = run(store, name='never-' + name, state='stopped', command='true')
    assert nothing['changed'] is False and nothing['jobs'] == [], 'stopped never starts a job'
    run(store, jobs=[{'name': name}, {'name': 'other-' + name}], state='absent')


def test_absent_stops_and_removes_every_job_of_the_name(store):
    name = 'gone-' + uuid.uuid4().hex[:6]
    running, finished = store.start([{'name': name, 'command': 'sleep 30'}, {'name': name, 'argv': ['true']}])
    store.wait([finished])
    check = run(store, check_mode=True, name=name, state='absent')
    assert check['changed'] is True and len(check['jobs']) == 2 and len(store.select(names=[name])) == 2
    first = run(store, name=name, state='absent')
    assert first['changed'] is True and first['action'] == 'removed'
    assert {j['id']: j['removed'] for j in first['jobs']} == {running.id: True, finished.id: True}
    assert store.select(names=[name]) == []
    assert gone(running.state['pid'], running.state['pid_start_time'])
    second = run(store, name=name, state='absent')
    assert second['changed'] is False and second['jobs'] == []


def test_absent_on_a_store_that_does_not_exist_creates_nothing(store):
    result = run(store, name='x', state='absent')
    assert result['changed'] is False and not os.path.exists(store.root)


# --- definitions ------------------------------------------------------------------------------------------------

def test_a_changed_definition_is_reported_and_replaced_only_with_recreate(store, tmp_path):
    name = 'def-' + uuid.uuid4().hex[:6]
    old = dict(name=name, command='sleep 30', env={'A': 'secret-a'}, chdir=str(tmp_path), timeout=60)
    first = run(store, **old)
    same = run(store, **{**old, 'env': {'A': 'another-value'}, 'chdir': str(tmp_path) + '/'})
    assert same['changed'] is False and same['definition_changed'] is False, 'env values and trailing / do not count'
    new = {**old, 'command': 'sleep 31', 'env': {'B': 'secret-b'}, 'chdir': None, 'timeout': None}
    reported = run(store, **new)
    assert reported['changed'] is False and reported['definition_changed'] is True
    assert reported['differences'] == {
        'command': {'before': 'sleep 30', 'after': 'sleep 31'},
        'env_keys': {'before': ['A'], 'after': ['B']},
        'chdir': {'before': str(tmp_path), 'after': None},
        'timeout': {'before': 60.0, 'after': None},
    }
    assert reported['warnings'] == ['job %s (%s) differs from its definition in chdir, command, env_keys, timeout: '
                                    'pass recreate: true to replace it' % (name, first['id'])]
    assert store.load(first['id']).state['state'] == 'running', 'without recreate nothing is touched'
    check = run(store, check_mode=True, recreate=True, **new)
    assert check['changed'] is True and check['action'] == 'recreated'
    assert store.load(first['id']).state['state'] == 'running'
    replaced = run(store, recreate=True, **new)
    assert replaced['changed'] is True and replaced['action'] == 'recreated'
    assert replaced['id'] != first['id'] and replaced['command'] == 'sleep 31'
    assert replaced['definitions'][0]['replaced'] == [first['id']]
    assert store.load(first['id']) is None
    assert store.load(replaced['id']).state['state'] == 'running'
    assert gone(first['pid'], None), 'the replaced job was stopped'
    again = run(store, recreate=True, **new)
    assert again['changed'] is False and again['definition_changed'] is False and again['id'] == replaced['id']
    run(store, name=name, state='absent')


def test_argv_versus_command_and_placement_are_part_of_the_definition(store, tmp_path):
    name = 'argv-' + uuid.uuid4().hex[:6]
    run(store, name=name, argv=['sleep', '30'])
    as_command = run(store, name=name, command='sleep 30')
    assert set(as_command['differences']) == {'command', 'argv'}
    out = str(tmp_path / 'out.log')
    placed = run(store, name=name, argv=['sleep', '30'], output_path=out)
    assert placed['differences'] == {'output_path': {'before': None, 'after': out}}
    run(store, name=name, state='absent')


def test_diff_mode_shows_before_and_after_without_env_values_or_stdin(store):
    name = 'diff-' + uuid.uuid4().hex[:6]
    secret, stdin = 'tok-' + uuid.uuid4().hex, 'in-' + uuid.uuid4().hex
    definition = dict(name=name, command='cat >/dev/null; sleep 30', env={'TOKEN': secret}, stdin=stdin)
    check = run(store, check_mode=True, diff=True, **definition)
    assert check['diff']['before'] == {'name': name, 'state': 'absent'}
    assert check['diff']['after'] == {'name': name, 'state': 'running', 'command': 'cat >/dev/null; sleep 30',
                                      'env_keys': ['TOKEN']}
    first = run(store, diff=True, **definition)
    assert first['diff']['after']['state'] == 'running'
    unchanged = run(store, diff=True, **definition)
    assert unchanged['diff']['before'] == unchanged['diff']['after'], 'no change, no difference'
    stopped = run(store, diff=True, name=name, state='stopped')
    assert (stopped['diff']['before']['state'], stopped['diff']['after']['state']) == ('running', 'stopped')
    removed = run(store, diff=True, name=name, state='absent')
    assert removed['diff']['after'] == {'name': name, 'state': 'absent'}
    for result in (check, first, unchanged, stopped, removed):
        assert secret not in json.dumps(result) and stdin not in json.dumps(result)


def test_secrets_never_reach_job_json(store):
    secret = 'tok-' + uuid.uuid4().hex
    result = run(store, name='sec-' + uuid.uuid4().hex[:6], argv=['true'], env={'TOKEN': secret}, stdin=secret,
                 state='finished')
    folder = os.path.join(store.root, result['id'])
    for file_name in os.listdir(folder):
        with open(os.path.join(folder, file_name), 'rb') as handle:
            assert secret.encode() not in handle.read(), file_name


def test_a_job_that_never_ran_fails_the_task_and_is_retried(store, tmp_path):
    name = 'spawn-' + uuid.uuid4().hex[:6]
    missing = str(tmp_path / 'missing')
    first = run(store, name=name, argv=['true'], chdir=missing)
    assert first['failed'] is True and first['changed'] is True
    assert first['msg'].startswith('job %s could not be started: ' % name) and missing in first['msg']
    second = run(store, name=name, argv=['true'], chdir=missing)
    assert second['failed'] is True, 'a job that never ran does not count as started'
    assert second['definitions'][0]['replaced'] == [first['id']]
    os.mkdir(missing)
    third = run(store, name=name, argv=['true'], chdir=missing, state='finished')
    assert 'failed' not in third and third['state'] == 'completed'
    assert [j.id for j in store.select(names=[name])] == [third['id']]


def test_started_and_finished_use_the_newest_job_of_a_shared_name(store):
    name = 'twin-' + uuid.uuid4().hex[:6]
    older = store.start([{'name': name, 'argv': ['true']}])[0]
    store.wait([older])
    time.sleep(0.01)
    newer = store.start([{'name': name, 'command': 'echo newer'}])[0]
    result = run(store, name=name, command='echo newer', state='finished')
    assert result['changed'] is False and result['id'] == newer.id and result['stdout'] == 'newer\n'
    assert result['definition_changed'] is False


# --- batches ----------------------------------------------------------------------------------------------------

class CountingStore(js.JobStore):
    """The real store, counting how often the declaration starts and waits."""

    def __init__(self, root):
        super().__init__(root)
        self.calls = []

    def start(self, specs):
        self.calls.append(('start', len(specs)))
        return super().start(specs)

    def wait(self, jobs, any_=False, timeout=None):
        self.calls.append(('wait', len(jobs)))
        return super().wait(jobs, any_=any_, timeout=timeout)


def test_a_batch_starts_and_waits_once_for_all_its_jobs(tmp_path):
    store = CountingStore(str(tmp_path / 'root'))
    prefix = 'b-' + uuid.uuid4().hex[:6]
    old = store.start([{'name': prefix + '-old', 'command': 'sleep 30'}])[0]
    store.calls.clear()
    jobs = [{'name': '%s-%d' % (prefix, i), 'command': 'sleep 0.2; echo %d' % i, 'state': 'finished'}
            for i in range(5)]
    jobs += [{'name': prefix + '-svc', 'command': 'sleep 30'}, {'name': prefix + '-old', 'state': 'absent'}]
    first = run(store, jobs=jobs)
    assert store.calls == [('start', 6), ('wait', 5)], 'one start and one wait for the whole batch'
    assert first['changed'] is True and 'action' not in first and 'id' not in first
    assert [d['action'] for d in first['definitions']] == ['started'] * 6 + ['removed']
    outputs = {j['name']: j.get('stdout') for j in first['jobs']}
    assert outputs == dict({'%s-%d' % (prefix, i): '%d\n' % i for i in range(5)},
                           **{prefix + '-svc': None, prefix + '-old': None})
    assert store.load(old.id) is None
    store.calls.clear()
    second = run(store, jobs=jobs)
    assert second['changed'] is False and [d['action'] for d in second['definitions']] == ['none'] * 7
    assert store.calls == [('wait', 5)], 'nothing to start the second time'
    run(store, jobs=[{'name': j['name']} for j in jobs], state='absent')
    assert store.select(names=['%s-*' % prefix], glob=True) == []


def test_retention_removes_the_ended_job_and_the_next_run_starts_it_again(store):
    name = 'keep-' + uuid.uuid4().hex[:6]
    first = run(store, name=name, argv=['true'], state='finished', retention=0.2)
    assert first['state'] == 'completed' and 'expired' not in first
    time.sleep(0.5)
    check = run(store, check_mode=True, name=name, argv=['true'], state='finished', retention=0.2)
    assert 'expired' not in check and store.load(first['id']) is not None, 'check mode removes nothing'
    second = run(store, name=name, argv=['true'], state='finished', retention=0.2)
    assert second['expired'] == [first['id']] and store.load(first['id']) is None
    assert (second['action'], second['state']) == ('started', 'completed') and second['id'] != first['id']


def test_an_empty_batch_changes_nothing(store):
    result = run(store, jobs=[])
    assert result == {'changed': False, 'jobs': [], 'definitions': []}
    assert not os.path.exists(store.root)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
RACER = '''
import sys
sys.path.insert(0, sys.argv[3])
from ansible_collections.remote.jobs.plugins.module_utils._jobstore import JobStore
from ansible_collections.remote.jobs.plugins.module_utils._declare import declare
print('ready', flush=True)
sys.stdin.readline()
result = declare(JobStore(sys.argv[1]), [dict(name=sys.argv[2], command='sleep 30', state='started', recreate=False,
                                              results='target')])
print(result['definitions'][0]['action'])
'''


def test_concurrent_declarations_of_one_name_start_it_once(store):
    name = 'race-' + uuid.uuid4().hex[:6]
    collections = os.path.join(ROOT, '.build', 'collections')
    racers = [subprocess.Popen([sys.executable, '-c', RACER, store.root, name, collections],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _i in range(6)]
    for racer in racers:  # every racer has imported everything: release them together
        assert racer.stdout.readline() == b'ready\n', racer.stderr.read().decode()
    for racer in racers:
        racer.stdin.write(b'go\n')
        racer.stdin.flush()
    actions = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err.decode()
        actions.append(out.decode().strip())
    assert sorted(actions) == ['none'] * 5 + ['started']
    assert len(store.select(names=[name])) == 1
    run(store, name=name, state='absent')


def test_job_and_start_share_one_definition_spec():
    from ansible_collections.remote.jobs.plugins.module_utils import _args, _declare
    start_options = _args.SPECS['start']['argument_spec']
    job_options = _declare.SPEC['argument_spec']
    for key in _args.DEFINITION_OPTIONS:
        assert job_options[key] == start_options[key], key
