# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The direct path: run a verb on a POSIX target without an AnsiballZ module.

Private to the collection: may change in any release.

A module call costs about 0.3 s per host, most of it Python start-up on the target: AnsiballZ unpacks a
~200 KiB zip and imports ansible.module_utils.basic from it (compiled from source every time), and the controller
builds that payload once per module per run. The verbs need none of it: their code (module_utils/_verbs.py and
the stdlib-only job store) runs on any Python 3.8+. So when the connection pipelines (the module would have been
sent on stdin anyway), the action plugin:

1. validates the arguments against the module's full spec on the controller, exactly as AnsibleModule would on
   the target (defaults, types, no_log values);
2. uses the interpreter and environment Ansible would use for the module (ansible_python_interpreter or
   interpreter_python, else interpreter discovery, run once per host through the module's own configuration; the
   task's environment) and wraps the command for become as usual;
3. sends a small script on stdin: the verb's source files, defined as modules in the target's interpreter, and
   the request; the script prints the result as JSON;
4. masks no_log values in the result, as AnsibleModule does.

Where any of this does not hold (no pipelining, async, a non-Python interpreter, Windows) or the host variable
remote_jobs_direct is false, the module runs as usual: both paths run the same _verbs.run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible_collections.remote.jobs.plugins.module_utils import _args
from ansible_collections.remote.jobs.plugins.module_utils._args import one_line

display = Display()

PACKAGE = 'ansible_collections.remote.jobs.plugins.module_utils'
# The module_utils sent to the target, in import order; _declare only for remote.jobs.job. They are read as files:
# importing them here would make every worker compile them (Ansible's collection loader keeps no bytecode), and the
# controller needs only _args (the specs).
_SOURCES = ('_args', '_jobstore', '_declare', '_verbs')
_MODULE_UTILS = os.path.dirname(os.path.abspath(_args.__file__))

# The program's head. Compiling the ~70 KiB of verb code is a quarter of a call's Python time, so a successful call
# leaves the compiled code in <job_root>/.code/ (a folder of the user's own private job root, 0700, files 0600)
# and later calls load it from there. An entry is named after the source's sha256 and the interpreter's cache tag,
# so another collection version or Python compiles afresh (and replaces the entry); a missing, unreadable or foreign
# cache just means compiling. Nothing is written by a failed call, in check mode, or when the job root does not
# exist yet or is not the user's own.
_BOOT = r"""import json, marshal, os, sys, types
REQUEST = json.loads(%(request)r)
for name in %(packages)r:
    package = types.ModuleType(name)
    package.__path__ = []
    sys.modules[name] = package
def private(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o040000 and st.st_uid == os.geteuid() and not st.st_mode & 0o022
ROOT = os.path.expanduser(REQUEST['params'].get('job_root') or %(default_root)r)
TAG = sys.implementation.cache_tag
CACHE = os.path.join(ROOT, '.code') if TAG and private(ROOT) else None
FRESH = []
def define(name, key, source):
    module = types.ModuleType(name)
    module.__file__ = '<remote.jobs %%s>' %% name
    sys.modules[name] = module
    entry = '%%s-%%s.%%s' %% (name.rsplit('.', 1)[1], key, TAG)
    code = None
    if CACHE and private(CACHE):
        try:
            with open(os.path.join(CACHE, entry), 'rb') as handle:
                code = marshal.load(handle)
        except Exception:
            code = None
    if code is None:
        code = compile(source, module.__file__, 'exec')
        FRESH.append((entry, code))
    exec(code, module.__dict__)
def keep_compiled():
    try:
        if not os.path.lexists(CACHE):
            os.mkdir(CACHE, 0o700)
        if not private(CACHE):
            return
        for entry, code in FRESH:
            stale = entry.split('-', 1)[0] + '-'
            for old in os.listdir(CACHE):
                if old.startswith(stale) and old.endswith('.' + TAG):
                    os.unlink(os.path.join(CACHE, old))
            temporary = os.path.join(CACHE, '.%%s.%%d' %% (entry, os.getpid()))
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'wb') as handle:
                marshal.dump(code, handle)
            os.replace(temporary, os.path.join(CACHE, entry))
    except OSError:
        pass
"""
_END = """RESULT = sys.modules[%(verbs)r].main(REQUEST)
if FRESH and CACHE and not REQUEST['check_mode'] and not RESULT.get('failed'):
    keep_compiled()
"""


@functools.lru_cache(maxsize=None)
def _source(leaf):
    """A module_utils file's text and the key of its compiled form, read once per worker (a sliced wait and its
    commit send it again)."""
    with open(os.path.join(_MODULE_UTILS, leaf + '.py'), 'rb') as handle:
        data = handle.read()
    return data.decode('utf-8'), hashlib.sha256(data).hexdigest()[:20]


def script(request):
    """The Python program sent to the target: the verb's code plus the request (arguments included)."""
    parts = PACKAGE.split('.')
    lines = [_BOOT % {'request': json.dumps(request, default=str), 'default_root': _args.DEFAULT_JOB_ROOT,
                      'packages': ['.'.join(parts[:i]) for i in range(1, len(parts) + 1)]}]
    for leaf in _SOURCES:
        if leaf == '_declare' and request['verb'] != 'job':
            continue
        text, key = _source(leaf)
        lines.append('define(%r, %r, %r)\n' % ('%s.%s' % (PACKAGE, leaf), key, text))
    lines.append(_END % {'verbs': '%s._verbs' % PACKAGE})
    return ''.join(lines).encode('utf-8')


def target_vars(action, task_vars):
    """The variables of the host the task runs on: the delegated host's under delegate_to (its interpreter, its
    job root, its remote_jobs_* settings), else the task's own."""
    delegate = action._task.delegate_to
    if delegate:
        return (task_vars.get('ansible_delegated_vars') or {}).get(delegate, task_vars)
    return task_vars


def enabled(action, task_vars):
    """remote_jobs_direct (default true) and a connection that pipelines, no async."""
    setting = target_vars(action, task_vars).get('remote_jobs_direct', True)
    try:
        wanted = boolean(action._templar.template(setting), strict=True)
    except TypeError:
        raise AnsibleActionFail('remote_jobs_direct must be a boolean, got %r' % (setting,))
    return wanted and not action._task.async_val and action._is_pipelining_enabled('new')


_DISCOVERY = ('auto', 'auto_legacy', 'auto_silent', 'auto_legacy_silent')


def interpreter(action, module_name, task_vars):
    """The shebang Ansible would give module_name on this host.

    A configured interpreter (ansible_python_interpreter, interpreter_python in ansible.cfg) or one discovered
    earlier in the play is used as is; otherwise Ansible configures the module once, which runs interpreter
    discovery and leaves the result in the host's facts for later tasks."""
    use_vars = target_vars(action, task_vars)
    configured = C.config.get_config_value('INTERPRETER_PYTHON', variables=use_vars)
    configured = str(action._templar.template(configured) or '').strip()
    if configured and configured not in _DISCOVERY:
        shebang = '#!' + configured
    else:
        shebang = (use_vars.get('ansible_facts') or {}).get('discovered_interpreter_python')
        shebang = '#!' + shebang if shebang else _configured_shebang(action, module_name, task_vars)
    if not shebang or 'python' not in shebang.rsplit('/', 1)[-1]:
        return None
    return shebang


def _configured_shebang(action, module_name, task_vars):
    built = action._configure_module(module_name=module_name, module_args={}, task_vars=task_vars)
    first = built[0]
    if hasattr(first, 'shebang'):  # ansible-core 2.19+: (_BuiltModule, path)
        style, shebang = first.module_style, first.shebang
    else:  # 2.16 - 2.18: (style, shebang, data, path)
        style, shebang = built[0], built[1]
    return shebang if style == 'new' else None


_SSH_NOISE = ('Warning: Permanently added', 'Shared connection to ')


def _parse(verb, res):
    stdout = res.get('stdout') or ''
    start = stdout.find('{')
    while start != -1:
        try:
            data, _end = json.JSONDecoder().raw_decode(stdout[start:])
        except ValueError:
            start = stdout.find('\n{', start + 1)
            start = start + 1 if start != -1 else -1
            continue
        if isinstance(data, dict):
            return data
        break
    lines = [line for line in (res.get('stderr') or stdout or 'no output').splitlines()
             if line.strip() and not line.startswith(_SSH_NOISE)] or ['no output']
    # A Python traceback says what went wrong on its last line; a shell ("python3: not found") on its first.
    said = lines[-1] if lines[0].startswith('Traceback') else lines[0]
    return dict(failed=True, msg=one_line('remote.jobs %s: the target printed no result (rc %s): %s' % (
        verb, res.get('rc'), said.strip())), rc=res.get('rc'), module_stdout=stdout,
        module_stderr=res.get('stderr') or '')


def run(action, verb, module_args, task_vars):
    """The verb's result from the direct path, or None when the module has to run instead."""
    if not enabled(action, task_vars):
        return None
    # Any POSIX module gets the same interpreter; one name means at most one payload build per run.
    shebang = interpreter(action, 'remote.jobs.info', task_vars)
    if shebang is None:
        return None
    validation = ArgumentSpecValidator(**_args.spec(verb)).validate(module_args)
    if validation.error_messages:
        raise AnsibleActionFail(one_line('; '.join(validation.error_messages)))
    params = validation.validated_parameters
    secrets = validation._no_log_values
    request = dict(verb=verb, params=params, check_mode=bool(action._task.check_mode), diff=bool(action._task.diff))
    shell = action._connection._shell
    cmd = shell.build_module_command(action._compute_environment_string(), shebang, '').strip()
    display.vvv('remote.jobs: running %s directly with %s' % (verb, shebang[2:].strip()),
                host=task_vars.get('inventory_hostname'))
    res = action._low_level_execute_command(cmd, sudoable=True, in_data=script(request))
    result = remove_values(_parse(verb, res), secrets)
    # As AnsibleModule reports it; the action plugin hides the internal options, as it does for the modules.
    result['invocation'] = dict(module_args=remove_values(params, secrets))
    if getattr(action, '_discovered_interpreter_key', None):
        result.setdefault('ansible_facts', {})[action._discovered_interpreter_key] = action._discovered_interpreter
    return result
