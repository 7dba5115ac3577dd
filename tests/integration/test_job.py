# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remote.jobs.job, the job definitions playbook, the summary filter and the job_table callback over a real sshd."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid

import yaml

from ansible_collections.remote.jobs.plugins.module_utils._jobstore import proc_alive

ALL = ('h1', 'h2', 'h3')


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def job_ids(lab, host, names):
    """Ids of the jobs on host whose job.json names one of names (read from the target's files)."""
    found = []
    for job_id in lab.job_dirs(host):
        spec_path = os.path.join(lab.roots[host], job_id, 'job.json')
        if os.path.exists(spec_path):
            with open(spec_path) as handle:
                if json.load(handle).get('name') in names:
                    found.append(job_id)
    return sorted(found)


def test_each_state_check_then_change_then_no_change(lab):
    # Check mode, real run, second run for every state. That each real run still reports a change proves that
    # check mode changed nothing; the files on the target are checked at the end.
    svc, once = uniq('svc'), uniq('once')
    phases = (
        ('start', {'jobs': [{'name': svc, 'command': 'sleep 60'},
                            {'name': once, 'command': 'sleep 0.3; echo "once on {{ inventory_hostname }}"',
                             'state': 'finished'}]}),
        ('stop', {'name': svc, 'state': 'stopped', 'grace': 2}),
        ('absent', {'jobs': [{'name': svc}, {'name': once}], 'state': 'absent'}),
    )
    tasks = []
    for label, args in phases:
        tasks += [{'name': label + ' check', 'remote.jobs.job': args, 'check_mode': True},
                  {'name': label, 'remote.jobs.job': args},
                  {'name': label + ' again', 'remote.jobs.job': args}]
    run = lab.play(tasks, extra_args=['--diff'])
    assert run.rc == 0, run.output
    for host in ALL:
        def res(task, host=host):
            return run.result(task, host)

        def actions(task):
            return [(d['name'], d['action'], d['changed']) for d in res(task)['definitions']]

        # started and finished: check mode reports both starts; the real run starts both and waits for the
        # finished one; the second run changes nothing and returns the same (kept) output.
        check = res('start check')
        assert check['changed'] is True and check['jobs'] == []
        assert actions('start check') == [(svc, 'started', True), (once, 'started', True)]
        assert check['diff'][0] == {'before': {'name': svc, 'state': 'absent'}, 'before_header': svc,
                                    'after': {'name': svc, 'state': 'running', 'command': 'sleep 60'},
                                    'after_header': svc}
        first = res('start')
        assert first['changed'] is True and actions('start') == [(svc, 'started', True), (once, 'started', True)]
        jobs = {j['name']: j for j in first['jobs']}
        assert jobs[svc]['state'] == 'running' and 'stdout' not in jobs[svc]
        assert (jobs[once]['state'], jobs[once]['rc'], jobs[once]['stdout']) == ('completed', 0, 'once on %s\n' % host)
        again = res('start again')
        assert again['changed'] is False and actions('start again') == [(svc, 'none', False), (once, 'none', False)]
        assert {j['name']: j['id'] for j in again['jobs']} == {name: j['id'] for name, j in jobs.items()}
        assert [j.get('stdout') for j in again['jobs']] == [None, 'once on %s\n' % host]
        assert all(d['before'] == d['after'] for d in again['diff'])

        # stopped
        assert (res('stop check')['changed'], res('stop check')['action']) == (True, 'stopped')
        stopped = res('stop')
        assert (stopped['changed'], stopped['action'], stopped['state']) == (True, 'stopped', 'stopped')
        assert stopped['id'] == jobs[svc]['id'] and not proc_alive(jobs[svc]['pid'])
        assert (stopped['diff']['before']['state'], stopped['diff']['after']['state']) == ('running', 'stopped')
        assert (res('stop again')['changed'], res('stop again')['action']) == (False, 'none')

        # absent
        assert actions('absent check') == [(svc, 'removed', True), (once, 'removed', True)]
        removed = res('absent')
        assert actions('absent') == [(svc, 'removed', True), (once, 'removed', True)]
        assert sorted(j['id'] for j in removed['jobs']) == sorted(j['id'] for j in jobs.values())
        assert all(j['removed'] for j in removed['jobs'])
        assert res('absent again')['changed'] is False and res('absent again')['jobs'] == []
        assert not set(lab.job_dirs(host)) & {j['id'] for j in jobs.values()}, 'nothing of either job is left'


def test_absent_stopped_and_recreate_end_what_still_runs_of_a_lost_job(lab):
    # Three jobs whose supervisors were SIGKILLed (lost) while their commands run on: state absent and a recreate
    # would otherwise leave the commands running with no record to reach them by; state stopped ends them.
    absent, stopped, recreated = uniq('lostabsent'), uniq('loststopped'), uniq('lostrecreated')
    run = lab.play([{'name': 'start', 'remote.jobs.job': {'jobs': [{'name': name, 'command': 'sleep 300'}
                                                                   for name in (absent, stopped, recreated)]}}],
                   hosts='h1')
    assert run.rc == 0, run.output
    states = {}
    for job in run.result('start')['jobs']:
        states[job['name']] = state = lab.read_state('h1', job['id'])
        os.kill(state['supervisor_pid'], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(proc_alive(s['supervisor_pid'], s['supervisor_start_time']) for s in states.values()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        stop = {'name': stopped, 'state': 'stopped', 'grace': 1}
        run = lab.play([
            {'name': 'absent', 'remote.jobs.job': {'name': absent, 'state': 'absent', 'grace': 1}},
            {'name': 'stop check', 'remote.jobs.job': stop, 'check_mode': True},
            {'name': 'stop', 'remote.jobs.job': stop},
            {'name': 'stop again', 'remote.jobs.job': stop},
            {'name': 'recreate', 'remote.jobs.job': {'name': recreated, 'command': 'sleep 301', 'recreate': True,
                                                     'grace': 1}},
        ], hosts='h1')
        assert run.rc == 0, run.output
        time.sleep(0.2)
        alive = sorted(name for name, state in states.items() if proc_alive(state['pid'], state['pid_start_time']))
        assert not alive, 'the commands of the lost jobs %s still run' % alive
        gone = run.result('absent')
        assert (gone['action'], gone['removed']) == ('removed', True)
        assert (run.result('stop check')['changed'], run.result('stop check')['action']) == (True, 'stopped')
        assert (run.result('stop')['changed'], run.result('stop')['action']) == (True, 'stopped')
        assert (run.result('stop again')['changed'], run.result('stop again')['action']) == (False, 'none')
        new = run.result('recreate')
        assert new['action'] == 'recreated' and new['state'] == 'running' and new['pid'] != states[recreated]['pid']
    finally:
        for state in states.values():
            try:
                os.kill(state['pid'], signal.SIGKILL)
            except OSError:
                pass
        lab.play([{'name': 'clean', 'remote.jobs.job': {'jobs': [{'name': recreated}, {'name': stopped}],
                                                        'state': 'absent', 'grace': 0}}], hosts='h1')


def test_definition_drift_is_reported_and_recreate_replaces_the_job(lab):
    name = uniq('drift')
    secret, stdin = 'env-' + uuid.uuid4().hex, 'stdin-' + uuid.uuid4().hex
    old = {'name': name, 'command': 'cat >/dev/null; sleep 60', 'env': {'TOKEN': secret}, 'stdin': stdin}
    new = dict(old, command='cat >/dev/null; sleep 61', env={'OTHER': secret})
    run = lab.play([{'block': [
        {'name': 'start', 'remote.jobs.job': old},
        {'name': 'same', 'remote.jobs.job': dict(old, env={'TOKEN': 'a-different-value'})},
        {'name': 'drift', 'remote.jobs.job': new},
        {'name': 'recreate check', 'remote.jobs.job': dict(new, recreate=True), 'check_mode': True},
        {'name': 'recreate', 'remote.jobs.job': dict(new, recreate=True)},
        {'name': 'recreate again', 'remote.jobs.job': dict(new, recreate=True)},
        {'name': 'on target', 'remote.jobs.info': {'name': name}},
    ], 'always': [
        {'name': 'cleanup', 'remote.jobs.job': {'name': name, 'state': 'absent'}},
    ]}], hosts='h1,h2', extra_args=['--diff', '-vvv'])
    assert run.rc == 0, run.output
    for host in ('h1', 'h2'):
        start = run.result('start', host)
        same = run.result('same', host)
        assert same['changed'] is False and same['definition_changed'] is False, 'env values are not compared'
        drift = run.result('drift', host)
        assert (drift['changed'], drift['definition_changed'], drift['id']) == (False, True, start['id'])
        assert drift['differences'] == {
            'command': {'before': 'cat >/dev/null; sleep 60', 'after': 'cat >/dev/null; sleep 61'},
            'env_keys': {'before': ['TOKEN'], 'after': ['OTHER']},
        }
        assert (drift['state'], drift['pid']) == ('running', start['pid']), 'a drift alone touches nothing'
        check = run.result('recreate check', host)
        assert (check['changed'], check['action'], check['id']) == (True, 'recreated', start['id'])
        recreated = run.result('recreate', host)
        assert (recreated['changed'], recreated['action']) == (True, 'recreated')
        assert recreated['id'] != start['id'] and recreated['command'] == new['command']
        assert recreated['definitions'][0]['replaced'] == [start['id']]
        assert recreated['diff']['before']['command'] == old['command']
        assert recreated['diff']['after']['command'] == new['command']
        assert not proc_alive(start['pid']), 'the replaced job was stopped'
        assert [j['id'] for j in run.result('on target', host)['jobs']] == [recreated['id']], \
            'the replaced job was removed, the new one runs'
        again = run.result('recreate again', host)
        assert (again['changed'], again['definition_changed'], again['id']) == (False, False, recreated['id'])
        assert run.result('cleanup', host)['changed'] is True and job_ids(lab, host, [name]) == []
    assert 'differs from its definition in command, env_keys: pass recreate: true to replace it' in run.output
    for value in (secret, stdin):
        assert value not in run.output and value not in json.dumps(run.records), 'a secret reached the output'


BAD_INPUT = [
    ({}, r'one of the following is required: name, jobs'),
    ({'name': 'x', 'jobs': []}, r'parameters are mutually exclusive: jobs\|name'),
    ({'name': 'x'}, r'job x \(state started\): one of command or argv is required'),
    ({'name': 'x', 'state': 'finished', 'argv': []}, r'job x \(state finished\): argv must name a program'),
    ({'name': 'x', 'command': 'true', 'argv': ['true']}, r'mutually exclusive: command\|argv'),
    ({'name': 'x', 'command': 'true', 'state': 'running'}, r'value of state must be one of: started, finished, stopped, absent, got: running'),
    ({'name': 'x', 'command': 'true', 'wait_timeout': -1}, r'wait_timeout must not be negative'),
    ({'name': 'x', 'command': 'true', 'timeout': 0}, r'timeout must be a positive number'),
    ({'name': 'x', 'command': 'true', 'bogus': 1}, r'Unsupported parameters .*bogus'),
    ({'jobs': [{'name': 'a', 'command': 'true'}, {'name': 'a', 'state': 'absent'}]},
     r'jobs\[1\]: the name a is declared twice'),
    ({'jobs': [{'command': 'true'}]}, r'missing required arguments: name'),
    ({'jobs': [{'name': 'a', 'command': 'true', 'bogus': 1}]}, r'Unsupported parameters .*jobs\.bogus'),
    ({'jobs': [{'name': 'a'}], 'command': 'true'}, r'parameters are mutually exclusive: jobs\|command'),
]


def test_bad_input_and_failures_have_clear_messages(lab, tmp_path):
    root = str(tmp_path / 'never-created')
    slow, spawn, sliced = uniq('slow'), uniq('spawn'), uniq('sliced')
    tasks = [{'name': 'bad %d' % i, 'remote.jobs.job': dict(args, job_root=root), 'ignore_errors': True}
             for i, (args, _message) in enumerate(BAD_INPUT)]
    tasks += [
        {'name': 'too slow', 'remote.jobs.job': {'name': slow, 'command': 'sleep 30', 'state': 'finished',
                                                 'wait_timeout': 0.5}, 'ignore_errors': True},
        {'name': 'cannot start', 'remote.jobs.job': {'name': spawn, 'argv': ['true'], 'chdir': '/nonexistent/' + spawn},
         'ignore_errors': True},
        {'name': 'in slices', 'remote.jobs.job': {'name': sliced, 'command': 'sleep 2; echo sliced',
                                                  'state': 'finished', 'wait_timeout': 30},
         'vars': {'remote_jobs_wait_slice': 0.5}},
        {'name': 'cleanup', 'remote.jobs.job': {'jobs': [{'name': slow}, {'name': spawn}, {'name': sliced}],
                                                'state': 'absent'}},
    ]
    run = lab.play(tasks, hosts='h2', extra_args=['-vvv'])
    assert run.rc == 0, run.output
    for i, (args, pattern) in enumerate(BAD_INPUT):
        assert run.status('bad %d' % i, 'h2') == 'failed', args
        msg = run.result('bad %d' % i, 'h2')['msg']
        assert re.search(pattern, msg), '%r: %r does not match %r' % (args, msg, pattern)
        assert '\n' not in msg.strip(), 'one line: %r' % msg
    assert 'Traceback' not in run.output
    assert not os.path.exists(root), 'bad input reached the target'

    too_slow = run.result('too slow', 'h2')
    assert run.status('too slow', 'h2') == 'failed' and too_slow['changed'] is True
    assert too_slow['msg'] == '1 job(s) still running after waiting 0.5 seconds (wait_timeout): %s (%s)' % (
        slow, too_slow['id'])
    cannot = run.result('cannot start', 'h2')
    assert run.status('cannot start', 'h2') == 'failed'
    assert cannot['msg'].startswith('job %s could not be started: ' % spawn) and '/nonexistent/' in cannot['msg']
    sliced_result = run.result('in slices', 'h2')
    # One call waits at most one 0.5 s slice, so a 2 s job takes at least two; only the first started it.
    assert sliced_result['module_calls'] >= 2, 'a 2 s wait in 0.5 s slices takes several module calls'
    assert (sliced_result['changed'], sliced_result['action']) == (True, 'started'), \
        'what the first slice did is what the task did'
    assert (sliced_result['state'], sliced_result['stdout']) == ('completed', 'sliced\n')
    assert job_ids(lab, 'h2', [slow, spawn, sliced]) == []


def _table(output):
    """The rows of the job_table callback's tables in output, as dicts."""
    lines = output.splitlines()
    rows = []
    for index, line in enumerate(lines):
        if not line.startswith('REMOTE JOBS ['):
            continue
        header = lines[index + 1]
        assert header.split() == ['Id', 'Name', 'State', 'HasMoreData', 'Location', 'Command'], header
        starts = [header.index(col) for col in ('Id', 'Name', 'State', 'HasMoreData', 'Location', 'Command')]
        for row in lines[index + 3:]:
            if not row.strip() or row.startswith('('):
                break
            cells = [row[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
            rows.append(dict(zip(('Id', 'Name', 'State', 'HasMoreData', 'Location', 'Command'), cells)))
    return rows


def test_summary_and_job_table_over_three_hosts(lab):
    name = uniq('fleet')
    outcome = {'h1': 'true', 'h2': 'exit 3', 'h3': 'sleep 60'}

    def summary_of(var):
        return {'ansible.builtin.debug': {'msg': var}, 'run_once': True}

    run = lab.play([
        {'name': 'start', 'register': 'started', 'remote.jobs.start': {'jobs': [
            {'name': name, 'command': "{{ %r[inventory_hostname] }}" % outcome},
            {'name': name + '-b', 'argv': ['echo', 'b']}]}},
        {'name': 'wait', 'register': 'waited', 'remote.jobs.wait': {'name': [name, name + '-b'], 'timeout': 1}},
        dict(summary_of("{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'waited')))"
                        " | remote.jobs.summary }}"), name='as dict'),
        dict(summary_of("{{ ansible_play_hosts | map('extract', hostvars, 'waited')"
                        " | remote.jobs.summary(hosts=ansible_play_hosts) }}"), name='as list'),
        dict(summary_of("{{ hostvars | remote.jobs.summary(var='waited') }}"), name='as hostvars'),
        {'name': 'stop', 'remote.jobs.job': {'name': name, 'state': 'stopped', 'grace': 1},
         'when': "inventory_hostname == 'h3'"},
        {'name': 'final', 'register': 'final', 'remote.jobs.info': {'name': [name, name + '-b']}},
        dict(summary_of("{{ hostvars | remote.jobs.summary(var='final') }}"), name='after stop'),
    ], env={'ANSIBLE_CALLBACKS_ENABLED': 'remote.jobs.job_table,jsonresults'})
    try:
        assert run.rc == 0, run.output
        ids = {host: {j['name']: j['id'] for j in run.result('start', host)['jobs']} for host in ALL}
        running = run.result('as dict', 'h1')['msg']
        assert run.result('as list', 'h1')['msg'] == running == run.result('as hostvars', 'h1')['msg']
        assert running['state'] == 'running' and running['total'] == 6
        assert running['counts'] == {'running': 1, 'completed': 4, 'failed': 1, 'stopped': 0}
        assert {host: summary['state'] for host, summary in running['hosts'].items()} == {
            'h1': 'completed', 'h2': 'failed', 'h3': 'running'}
        assert running['hosts']['h3']['ids'] == [ids['h3'][name], ids['h3'][name + '-b']]
        ended = run.result('after stop', 'h1')['msg']
        assert ended['state'] == 'failed', 'all ended: one failed job fails the parent'
        assert ended['counts'] == {'running': 0, 'completed': 4, 'failed': 1, 'stopped': 1}
        assert ended['hosts']['h3']['state'] == 'stopped'

        # The table: one row per (host, job) with the last state any remote.jobs task saw.
        table = _table(run.output)
        expected = []
        for host, state in (('h1', 'Completed'), ('h2', 'Failed'), ('h3', 'Stopped')):
            expected.append({'Id': ids[host][name], 'Name': name, 'State': state, 'HasMoreData': 'False',
                             'Location': host, 'Command': outcome[host]})
            expected.append({'Id': ids[host][name + '-b'], 'Name': name + '-b', 'State': 'Completed',
                             'HasMoreData': 'True', 'Location': host, 'Command': 'echo b'})

        def key(row):
            return row['Location'], row['Name']

        assert sorted(table, key=key) == sorted(expected, key=key), run.output
        assert run.output.index('PLAY RECAP') < run.output.index('REMOTE JOBS ['), 'the table comes at the end'
    finally:
        lab.play([{'name': 'cleanup', 'remote.jobs.job': {'jobs': [{'name': name}, {'name': name + '-b'}],
                                                          'state': 'absent'}}])


def _apply(lab, jobs_file, *extra):
    """Run the collection's playbook remote.jobs.apply_jobs (by its collection name) against the lab."""
    lab.runs += 1
    run_dir = os.path.join(lab.base, 'apply%03d' % lab.runs)
    os.makedirs(run_dir)
    groups = os.path.join(run_dir, 'groups.yml')
    with open(groups, 'w') as handle:
        yaml.safe_dump({'all': {'children': {'web': {'hosts': {'h3': {}}}}}}, handle)
    results = os.path.join(run_dir, 'results.json')
    cmd = [os.path.join(os.path.dirname(lab.python), 'ansible-playbook'), '-i', lab.inventory, '-i', groups,
           'remote.jobs.apply_jobs', '-e', 'jobs_file=%s' % jobs_file] + list(extra)
    proc = subprocess.run(cmd, env=lab.env(REMOTE_JOBS_TEST_RESULTS=results), cwd=run_dir, timeout=600, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    records = []
    if os.path.exists(results):
        with open(results) as handle:
            records = json.load(handle)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), records


def _declared(records):
    """{host: [results of remote.jobs.job tasks]}: the only results with definitions."""
    found = {}
    for record in records:
        if 'definitions' in record['result']:
            found.setdefault(record['host'], []).append(record['result'])
    return found


def test_definitions_file_applied_twice_is_batched_and_idempotent(lab, tmp_path):
    prefix = uniq('def')
    names = {key: '%s-%s' % (prefix, key) for key in ('all', 'done', 'pair', 'web', 'gone')}
    definitions = [
        {'name': names['all'], 'hosts': 'all', 'command': 'sleep 60'},
        {'name': names['done'], 'hosts': 'all', 'argv': ['echo', 'done'], 'state': 'finished'},
        {'name': names['pair'], 'hosts': ['h1', 'h2'], 'command': 'sleep 60', 'timeout': 120},
        {'name': names['web'], 'group': 'web', 'argv': ['sleep', '60'], 'env': {'ROLE': 'frontend-' + prefix}},
        {'name': names['gone'], 'hosts': 'all', 'state': 'absent'},
    ]
    jobs_file = str(tmp_path / 'jobs.yml')
    with open(jobs_file, 'w') as handle:
        yaml.safe_dump(definitions, handle)
    pre = lab.play([{'name': 'old job', 'remote.jobs.start': {'name': names['gone'], 'command': 'sleep 60'}}],
                   hosts='h2')
    assert pre.rc == 0, pre.output
    try:
        rc, output, records = _apply(lab, jobs_file)
        assert rc == 0, output
        first = _declared(records)
        assert sorted(first) == list(ALL)
        expected = {
            'h1': [('all', 'started'), ('done', 'started'), ('pair', 'started'), ('gone', 'none')],
            'h2': [('all', 'started'), ('done', 'started'), ('pair', 'started'), ('gone', 'removed')],
            'h3': [('all', 'started'), ('done', 'started'), ('web', 'started'), ('gone', 'none')],
        }
        for host in ALL:
            assert len(first[host]) == 1, 'one remote.jobs.job task result per host'
            result = first[host][0]
            assert result['module_calls'] == 1, 'one round trip per host for all its definitions'
            assert result['changed'] is True
            assert [(d['name'], d['action']) for d in result['definitions']] == [
                (names[key], action) for key, action in expected[host]]
            assert [j['stdout'] for j in result['jobs'] if j['name'] == names['done']] == ['done\n']
        assert job_ids(lab, 'h2', [names['gone']]) == [], 'state: absent removed the old job'
        assert len(job_ids(lab, 'h3', names.values())) == 3 and len(job_ids(lab, 'h1', names.values())) == 3
        assert '"%s: started (completed)",' % names['done'] in output and '"  | done"' in output
        assert 'running: 10 job(s) on 3 host(s), 6 running, 3 completed, 0 failed, 1 stopped' in output, output

        on_target = {host: job_ids(lab, host, names.values()) for host in ALL}
        rc, output, records = _apply(lab, jobs_file)
        assert rc == 0, output
        second = _declared(records)
        for host in ALL:
            assert len(second[host]) == 1 and second[host][0]['module_calls'] == 1
            assert second[host][0]['changed'] is False, 'the second run changes nothing'
            assert {d['action'] for d in second[host][0]['definitions']} == {'none'}
        assert {host: job_ids(lab, host, names.values()) for host in ALL} == on_target
        assert re.search(r'h1\s+: ok=\d+\s+changed=0 ', output) and re.search(r'h3\s+: ok=\d+\s+changed=0 ', output)
    finally:
        rc, output, records = _apply(lab, jobs_file, '-e', 'jobs_state=absent')
        assert rc == 0, output
        assert {host: job_ids(lab, host, names.values()) for host in ALL} == {host: [] for host in ALL}


def test_the_shipped_example_file_applies_and_tears_down(lab):
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           'playbooks', 'files', 'example_jobs.yml')
    with open(example) as handle:
        names = [job['name'] for job in yaml.safe_load(handle)['jobs']]
    rc, output, records = _apply(lab, example)
    try:
        assert rc == 0, output
        for host, (result,) in _declared(records).items():
            assert [d['action'] for d in result['definitions']] == ['started', 'started', 'started', 'none']
            assert [j['state'] for j in result['jobs']] == ['completed', 'running', 'completed']
            assert result['jobs'][2]['stdout'].endswith(' entries in /tmp\n')
        assert sorted(_declared(records)) == list(ALL)
    finally:
        rc, output, records = _apply(lab, example, '-e', 'jobs_state=absent')
        assert rc == 0, output
        assert {host: job_ids(lab, host, names) for host in ALL} == {host: [] for host in ALL}


def test_definitions_file_errors_stop_the_play_with_a_message(lab, tmp_path):
    bad = str(tmp_path / 'bad.yml')
    with open(bad, 'w') as handle:
        yaml.safe_dump([{'name': 'ok', 'hosts': 'all', 'argv': ['true']}, {'name': 'nowhere', 'argv': ['true']}],
                       handle)
    rc, output, records = _apply(lab, bad)
    assert rc != 0
    failed = [r for r in records if r['status'] == 'failed']
    assert len(failed) == 1 and failed[0]['result']['msg'].endswith(
        'each a mapping with name and hosts or group; these entries (counted from 0) lack them: [1]')
    assert _declared(records) == {}, 'nothing was applied'
