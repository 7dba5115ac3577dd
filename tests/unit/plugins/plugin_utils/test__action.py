# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins pick remote.jobs.win_<verb> for PowerShell connections and remote.jobs.<verb> otherwise.

Real ansible-core connection and shell plugins are loaded; only the module execution is recorded instead of sent,
since no Windows host exists here.
"""

from __future__ import annotations

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import action_loader, connection_loader, shell_loader
from ansible.template import Templar

from ansible_collections.remote.jobs.plugins.plugin_utils._action import is_windows, module_name

CONNECTIONS = [
    # (connection plugin, shell plugin or None, expects Windows)
    ('ssh', None, False),
    ('local', None, False),
    ('ssh', 'powershell', True),
    ('winrm', None, True),
    ('psrp', None, True),
]

VERB_ARGS = {
    'start': {'name': 'build', 'command': 'make all', 'timeout': 60},
    'info': {'name': ['build*'], 'state': ['running']},
    'receive': {'id': 'abc', 'keep': True},
    'wait': {'id': ['abc', 'def'], 'timeout': 5},
    'stop': {'name': 'build', 'grace': 2},
    'remove': {'name': 'build*', 'force': True},
}


def connection(name, shell):
    kwargs = {'shell': shell_loader.get(shell)} if shell else {}
    return connection_loader.get(name, PlayContext(), '/dev/null', **kwargs)


def run_action(verb, conn, args, task_vars=None):
    task = Task()
    task.args = dict(args)
    loader = DataLoader()
    action = action_loader.get('remote.jobs.%s' % verb, task=task, connection=conn, play_context=PlayContext(),
                               loader=loader, templar=Templar(loader), shared_loader_obj=None)
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
        calls.append((module_name, dict(module_args)))
        return {'changed': False, 'jobs': [], 'timed_out': False}

    action._execute_module = execute_module
    result = action.run(task_vars=dict(task_vars or {}, inventory_hostname='host1'))
    return result, calls


@pytest.mark.parametrize('conn_name,shell,windows', CONNECTIONS)
def test_shell_family_decides(conn_name, shell, windows):
    conn = connection(conn_name, shell)
    assert is_windows(conn) is windows
    assert module_name('wait', conn) == ('remote.jobs.win_wait' if windows else 'remote.jobs.wait')


@pytest.mark.parametrize('verb', sorted(VERB_ARGS))
def test_each_verb_routes_with_the_same_arguments(verb):
    seen = {}
    for conn_name, shell, windows in CONNECTIONS:
        result, calls = run_action(verb, connection(conn_name, shell), VERB_ARGS[verb],
                                   task_vars={'remote_jobs_root': '/srv/jobs'})
        assert not result.get('failed'), result
        assert calls, 'no module ran'
        name, module_args = calls[0]
        assert name == 'remote.jobs.%s%s' % ('win_' if windows else '', verb)
        assert module_args['job_root'] == '/srv/jobs', 'job_root comes from remote_jobs_root'
        seen[(conn_name, shell)] = module_args
    first = next(iter(seen.values()))
    for key, module_args in seen.items():
        # Slices depend on the connection's timeouts; everything else is the same.
        def strip(args):
            return {k: v for k, v in args.items() if k != 'timeout' or verb not in ('wait', 'receive')}

        assert strip(module_args) == strip(first), key


def test_bad_input_never_reaches_a_module():
    result, calls = run_action('receive', connection('ssh', None), {'id': '../etc'})
    assert result['failed'] and 'invalid job id' in result['msg'] and calls == []
    result, calls = run_action('start', connection('winrm', None), {'command': 'x', 'argv': ['y']})
    assert result['failed'] and 'mutually exclusive' in result['msg'] and calls == []


def test_long_waits_are_sliced_below_the_connection_timeout():
    # WinRM's operation timeout (default 20 s) bounds each module call of a long wait.
    conn = connection('winrm', None)
    result, calls = run_action('wait', conn, {'id': 'abc', 'timeout': 100})
    assert calls[0][1]['timeout'] <= 15
    conn = connection('ssh', None)
    result, calls = run_action('wait', conn, {'id': 'abc', 'timeout': 100}, task_vars={'remote_jobs_wait_slice': 3})
    assert calls[0][1]['timeout'] == 3


@pytest.mark.parametrize('args,name', [
    ({'id': 'abc', 'max_bytes': float('inf')}, 'max_bytes'),
    ({'id': 'abc', 'timeout': float('nan')}, 'timeout'),
])
def test_infinite_numbers_fail_in_one_line(args, name):
    result, calls = run_action('receive', connection('ssh', None), args)
    assert result['failed'] and calls == []
    assert result['msg'].startswith('%s must be a finite number' % name) and '\n' not in result['msg']


def test_start_job_items_are_checked_for_infinite_numbers_too():
    result, calls = run_action('start', connection('ssh', None), {'jobs': [{'command': 'x', 'timeout': float('inf')}]})
    assert result['failed'] and calls == [] and result['msg'].startswith('jobs[0].timeout must be a finite number')


def run_direct(verb, args, tmp_path, windows=False, check_mode=False, **task_vars):
    """Run an action with pipelining on; the direct path's program really runs, in this Python, on this machine."""
    import subprocess
    import sys
    from types import SimpleNamespace

    conn = connection('winrm' if windows else 'ssh', None)
    task = Task()
    task.args = dict(args)
    task.check_mode = check_mode
    loader = DataLoader()
    action = action_loader.get('remote.jobs.%s' % verb, task=task, connection=conn, play_context=PlayContext(),
                               loader=loader, templar=Templar(loader), shared_loader_obj=None)
    sent, modules, configured = [], [], []
    action._is_pipelining_enabled = lambda style, wrap_async=False: True

    def configure_module(module_name, module_args, task_vars):
        # What ansible-core 2.19+ returns (older releases return a tuple; _direct reads both), and, as its
        # interpreter discovery does, the discovered interpreter left in the task's facts.
        configured.append(module_name)
        task_vars.setdefault('ansible_facts', {})['discovered_interpreter_python'] = sys.executable
        return SimpleNamespace(module_style='new', shebang='#!' + sys.executable), '/dev/null'

    action._configure_module = configure_module
    action._compute_environment_string = lambda *a: ''

    def low_level(cmd, sudoable=True, in_data=None, **kwargs):
        sent.append((cmd, in_data))
        proc = subprocess.run([sys.executable, '-'], input=in_data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=False, cwd=str(tmp_path))
        return {'rc': proc.returncode, 'stdout': proc.stdout.decode(), 'stderr': proc.stderr.decode()}

    def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
        modules.append(module_name)
        return {'changed': False, 'jobs': []}

    action._low_level_execute_command = low_level
    action._execute_module = execute_module
    result = action.run(task_vars=dict(task_vars, inventory_hostname='host1', remote_jobs_root=str(tmp_path / 'root')))
    run_direct.configured = configured
    return result, sent, modules


def test_direct_path_runs_the_verb_in_the_targets_python(tmp_path):
    import sys

    secret = 'secret-value-123'
    result, sent, modules = run_direct('start', {'command': 'printf "$TOKEN" | wc -c', 'env': {'TOKEN': secret},
                                                 'name': 'direct'}, tmp_path, ansible_python_interpreter=sys.executable)
    assert not result.get('failed'), result
    assert modules == [] and len(sent) == 1
    assert run_direct.configured == [], 'a configured interpreter needs no module build'
    cmd, program = sent[0]
    assert cmd.endswith('python') or 'python' in cmd.rsplit('/', 1)[-1], cmd
    assert secret.encode() in program, 'the arguments travel on stdin, inside the program'
    assert secret not in cmd
    job = result['jobs'][0]
    assert job['name'] == 'direct' and job['id'] and (tmp_path / 'root' / job['id'] / 'job.json').exists()
    assert secret not in (tmp_path / 'root' / job['id'] / 'job.json').read_text()
    assert result['invocation']['module_args']['env'] == {'TOKEN': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    # Interpreter discovery (no ansible_python_interpreter): Ansible configures one module, the same for every verb.
    waited, _sent, _modules = run_direct('receive', {'id': job['id'], 'wait': True, 'timeout': 30}, tmp_path)
    assert waited['stdout'].strip() == str(len(secret)), waited
    assert run_direct.configured == ['remote.jobs.info']


def test_direct_path_bad_input_and_switch(tmp_path):
    result, sent, modules = run_direct('remove', {'id': 'nope', 'force': 'maybe'}, tmp_path)
    assert result['failed'] and sent == [] and modules == []
    result, sent, modules = run_direct('info', {}, tmp_path, remote_jobs_direct=False)
    assert modules == ['remote.jobs.info'] and sent == []
    result, sent, modules = run_direct('info', {}, tmp_path, windows=True)
    assert modules == ['remote.jobs.win_info'] and sent == [], 'Windows never takes the direct path'
    result, sent, modules = run_direct('stop', {'id': 'missing'}, tmp_path)
    assert result['failed'] and len(sent) == 1, result
    assert result['msg'].startswith('no job with id missing') and '\n' not in result['msg'], result['msg']


def _code_cache(tmp_path):
    folder = tmp_path / 'root' / '.code'
    return {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}


def _cached_main(source):
    """A compiled _verbs whose main() answers without touching anything: proves a call ran the cached code."""
    return compile(source + "\ndef main(request):\n    print(json.dumps({'changed': False, 'from_cache': True}))\n"
                   "    return {}\n", '<planted>', 'exec')


def test_direct_path_keeps_compiled_code_in_the_private_job_root(tmp_path):
    import marshal
    import stat
    import sys

    from ansible_collections.remote.jobs.plugins.plugin_utils import _direct

    python = {'ansible_python_interpreter': sys.executable}
    started, _sent, _modules = run_direct('start', {'command': 'true'}, tmp_path, **python)
    assert not started.get('failed'), started
    assert _code_cache(tmp_path) == {}, 'the job root did not exist when that call began: nothing is cached'
    listed, _sent, _modules = run_direct('info', {}, tmp_path, **python)
    assert not listed.get('failed') and len(listed['jobs']) == 1, listed
    cache = _code_cache(tmp_path)
    tag = sys.implementation.cache_tag
    _text, key = _direct._source('_verbs')
    assert sorted(cache) == sorted('%s-%s.%s' % (leaf, _direct._source(leaf)[1], tag)
                                   for leaf in _direct._SOURCES if leaf != '_declare'), sorted(cache)
    assert stat.S_IMODE((tmp_path / 'root' / '.code').stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in cache.values())
    # The next call loads the code from there instead of compiling it: replace _verbs' entry and see it answer.
    entry = cache['_verbs-%s.%s' % (key, tag)]
    entry.write_bytes(marshal.dumps(_cached_main(_text)))
    answered, _sent, _modules = run_direct('info', {}, tmp_path, **python)
    assert answered.get('from_cache') is True, answered
    # A damaged entry is compiled afresh and replaced; an entry of another version of the source is dropped.
    entry.write_bytes(b'not marshal data')
    stale = tmp_path / 'root' / '.code' / ('_verbs-0123456789abcdef0123.%s' % tag)
    stale.write_bytes(b'old')
    listed, _sent, _modules = run_direct('info', {}, tmp_path, **python)
    assert not listed.get('failed') and 'from_cache' not in listed, listed
    assert not stale.exists()
    assert marshal.loads(entry.read_bytes()).co_filename == '<remote.jobs %s._verbs>' % _direct.PACKAGE


def test_direct_path_caches_nothing_on_failure_in_check_mode_or_outside_its_own_folder(tmp_path):
    import marshal
    import sys

    from ansible_collections.remote.jobs.plugins.plugin_utils import _direct

    python = {'ansible_python_interpreter': sys.executable}
    (tmp_path / 'root').mkdir(mode=0o700)
    failed, _sent, _modules = run_direct('stop', {'id': 'missing'}, tmp_path, **python)
    assert failed['failed'] and _code_cache(tmp_path) == {}, 'a failed call leaves nothing behind'
    checked, _sent, _modules = run_direct('start', {'command': 'true'}, tmp_path, check_mode=True, **python)
    assert not checked.get('failed') and _code_cache(tmp_path) == {}, 'check mode leaves nothing behind'
    # .code as a symlink to somewhere else is neither read nor written.
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    text, key = _direct._source('_verbs')
    planted = elsewhere / ('_verbs-%s.%s' % (key, sys.implementation.cache_tag))
    planted.write_bytes(marshal.dumps(_cached_main(text)))
    (tmp_path / 'root' / '.code').symlink_to(elsewhere)
    listed, _sent, _modules = run_direct('info', {}, tmp_path, **python)
    assert not listed.get('failed') and 'from_cache' not in listed, listed
    assert sorted(p.name for p in elsewhere.iterdir()) == [planted.name]
