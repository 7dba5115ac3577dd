# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The direct path (plugin_utils/_direct.py) and the module path give the same results.

The rest of the suite runs with pipelining on, so it runs the direct path; these tests pin that down and run the
same verbs through the AnsiballZ modules (remote_jobs_direct: false, and pipelining off) to compare.
"""

from __future__ import annotations

import json
import os
import re
import uuid

USING_MODULE = re.compile(r'Using module file \S*/remote/jobs/plugins/modules/(\w+)\.py')
DIRECT = re.compile(r'remote\.jobs: running (\w+) directly with ')

# A no_log value: Ansible masks it wherever it appears in the task's result, so it must not be a common word.
STDIN = 'stdin-value-5f3a'

# Fields whose values differ from run to run (ids, times, pids, paths); everything else must be equal.
VOLATILE = {'id', 'name', 'pid', 'pid_start_time', 'supervisor_pid', 'supervisor_start_time', 'started', 'finished',
            'created', 'ids', 'stdout_path', 'stderr_path', 'location', 'boot_id', 'duration', 'dest', 'age'}


def _tasks(tag, secret, go):
    """go: a file the first job waits for, so start sees it running on both paths (its result is compared)."""
    name = 'direct-%s-%s' % (tag, uuid.uuid4().hex[:6])
    return [
        {'name': 'start', 'remote.jobs.start': {'jobs': [
            {'name': name, 'command': 'while [ ! -e %s ]; do sleep 0.05; done; printf "%%s %%s" "$(printf %%s "$TOKEN" '
                                      '| wc -c)" "$(cat)"; echo oops >&2; exit 3' % go,
             'env': {'TOKEN': secret}, 'stdin': STDIN},
            {'name': name + '-long', 'command': 'sleep 60'}]}, 'register': 'started'},
        {'name': 'go', 'ansible.builtin.file': {'path': go, 'state': 'touch'}},
        {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 60}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name}},
        {'name': 'info', 'remote.jobs.info': {'name': [name, name + '-long']}},
        {'name': 'stop', 'remote.jobs.stop': {'name': name + '-long', 'grace': 1}},
        {'name': 'declare', 'remote.jobs.job': {'name': name + '-decl', 'command': 'echo declared',
                                                'state': 'finished', 'wait_timeout': 60}},
        {'name': 'remove', 'remote.jobs.remove': {'name': [name, name + '-long', name + '-decl']}},
        {'name': 'bad id', 'remote.jobs.info': {'id': '../etc'}, 'ignore_errors': True},
    ]


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _play(lab, tag, secret, **kwargs):
    go = os.path.join(lab.base, 'go-direct')  # the same path on every run: the command is compared too
    if os.path.exists(go):
        os.unlink(go)
    run = lab.play(_tasks(tag, secret, go), hosts='h1,h2', extra_args=['-vvv'], **kwargs)
    assert run.rc == 0, run.output
    assert secret not in run.output and secret not in json.dumps(run.records), 'the env value reached the output'
    return run


def test_direct_and_module_paths_agree(lab):
    secret = 'env-' + uuid.uuid4().hex
    direct = _play(lab, 'direct', secret)
    module = _play(lab, 'module', secret, vars={'remote_jobs_direct': False})

    # Which path ran: the direct path never builds a remote.jobs module; remote_jobs_direct: false always does.
    assert set(DIRECT.findall(direct.output)) == {'start', 'wait', 'receive', 'info', 'stop', 'job', 'remove'}
    assert not USING_MODULE.findall(direct.output), direct.output
    assert not DIRECT.findall(module.output)
    assert set(USING_MODULE.findall(module.output)) == {'start', 'wait', 'receive', 'info', 'stop', 'job', 'remove'}

    for task in ('start', 'wait', 'receive', 'info', 'stop', 'declare', 'remove', 'bad id'):
        for host in ('h1', 'h2'):
            ours, theirs = direct.result(task, host), module.result(task, host)
            assert _stable(ours) == _stable(theirs), '%s on %s differs:\n%s\n%s' % (task, host, ours, theirs)

    received = direct.result('receive')
    assert received['stdout'] == '%d %s' % (len(secret), STDIN) and received['stderr'] == 'oops\n' and received['rc'] == 3
    assert direct.status('bad id') == 'failed' and 'invalid job id' in direct.result('bad id')['msg']
    # env values are no_log: the invocation (compared above) shows them masked, as AnsibleModule does.
    start_args = direct.result('start')['invocation']['module_args']
    assert start_args['jobs'][0]['env'] == {'TOKEN': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}


def test_module_path_without_pipelining(lab):
    secret = 'env-' + uuid.uuid4().hex
    run = _play(lab, 'nopipe', secret, env={'ANSIBLE_PIPELINING': 'False'})
    assert not DIRECT.findall(run.output)
    assert set(USING_MODULE.findall(run.output)) == {'start', 'wait', 'receive', 'info', 'stop', 'job', 'remove'}
    assert run.result('receive')['stdout'] == '%d %s' % (len(secret), STDIN)
    assert run.result('declare')['stdout'] == 'declared\n'


def test_direct_path_reports_a_missing_interpreter_in_one_line(lab):
    run = lab.play([{'name': 'info', 'remote.jobs.info': {}}], hosts='h3',
                   vars={'ansible_python_interpreter': '/nonexistent/python3'})
    result = run.result('info', 'h3')
    assert run.status('info', 'h3') == 'failed' and '\n' not in result['msg'], result
    assert '/nonexistent/python3' in result['msg'], result['msg']
    assert not os.path.exists(lab.roots['h3']) or 'Traceback' not in run.output


def test_remote_jobs_direct_must_be_a_boolean(lab):
    run = lab.play([{'name': 'info', 'remote.jobs.info': {}}], hosts='h3', vars={'remote_jobs_direct': 'maybe'})
    result = run.result('info', 'h3')
    assert run.status('info', 'h3') == 'failed' and result['msg'] == "remote_jobs_direct must be a boolean, got 'maybe'", result


def test_direct_path_with_interpreter_discovery(lab):
    """Without ansible_python_interpreter, the first call discovers the interpreter (once per host, as a module
    would) and later tasks reuse the discovered fact."""
    # Discovery tries the fallback list in order; this machine's pyenv shims would win over a working Python.
    run = lab.play([{'name': 'first', 'remote.jobs.info': {}}, {'name': 'second', 'remote.jobs.info': {}}],
                   hosts='h2', vars={'ansible_python_interpreter': 'auto_silent',
                                     'ansible_interpreter_python_fallback': [lab.python]}, extra_args=['-vvv'])
    assert run.rc == 0, run.output
    discovered = run.result('first', 'h2')['ansible_facts']['discovered_interpreter_python']
    assert 'python' in discovered
    assert DIRECT.findall(run.output) == ['info', 'info']
    assert run.output.count('remote.jobs: running info directly with %s' % discovered) == 2, run.output
