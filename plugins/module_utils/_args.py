# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs and input validators shared by the modules (target) and the action plugins (controller).

Private to the collection: may change in any release. Stdlib only, Python 3.8+.
"""

from __future__ import annotations

import math
import re

JOB_ID_PATTERN = r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
_JOB_ID_RE = re.compile(JOB_ID_PATTERN[1:-1])
STATES = ('running', 'completed', 'failed', 'stopped')
FINISHED_STATES = ('completed', 'failed', 'stopped')
PLACEMENTS = ('target', 'controller')
DEFAULT_MAX_BYTES = 1024 * 1024
# The most bytes one receive _read call returns: with become a piece travels in the module's results, in calls of
# at most this many bytes (8 MiB, ~11 MiB of base64 JSON).
READ_PIECE_MAX = 8 << 20
# The target's words for these two, which the controller recognises in a failed _read (_placement._probe).
RECEIVED_ELSEWHERE = 'received by another receive'
NO_JOB_WITH_ID = 'no job with id'
DEFAULT_JOB_ROOT = '~/.ansible_jobs'
DEFAULT_GRACE = 5
# Job fields never copied to the top level of a result: Ansible reserves a top-level "results" (loop results),
# so the placement stays inside each job object.
NOT_AT_TOP = frozenset(['results'])

_DURATION_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$')
# The largest number any option takes (seconds, bytes): ~31 million years, 1 PB. Bigger ones are typos, and huge
# integers cannot even be made floats.
MAX_NUMBER = 10 ** 15
_DURATION_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


class JobArgumentError(ValueError):
    """A bad value from the user; its message says what to do, on one line (it may quote the bad input)."""

    def __init__(self, message):
        super().__init__(one_line(message))


def one_line(message):
    """A message as one line: newlines and other control characters (often echoed from bad input) escaped."""
    return ''.join(ch if ch >= ' ' or ch == '\t' else repr(ch)[1:-1] for ch in str(message)).strip()


def job_result(views, changed, **extra):
    """Every result has jobs; a result about exactly one job also carries its fields at the top level."""
    result = dict(changed=changed, jobs=views, **extra)
    if len(views) == 1:
        for key, value in views[0].items():
            if key not in NOT_AT_TOP:
                result.setdefault(key, value)
    return result


def still_running(views, timeout):
    """The message of a wait that timed out with fail_on_timeout."""
    running = [view['id'] for view in views if view.get('state') == 'running']
    return '%d of %d job(s) still running after %s seconds: %s' % (len(running), len(views), timeout, ', '.join(running))


def check_job_id(job_id):
    """Return job_id if it is a valid job id, else raise JobArgumentError. Called before any path is built."""
    if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
        raise JobArgumentError(
            'invalid job id %r: a job id is 1-64 characters, letters, digits, "_", "." and "-", '
            'starting with a letter or digit' % (job_id,))
    return job_id


def as_list(value):
    """None -> [], scalar -> [scalar], list -> list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def parse_duration(value, option='older_than'):
    """Seconds from an int/float or a string such as '90', '90s', '15m', '12h', '7d', '2w'."""
    if isinstance(value, bool):
        raise JobArgumentError('%s: expected a duration such as 90, "15m", "12h" or "7d", got %r' % (option, value))
    if isinstance(value, (int, float)):
        if value < 0:
            raise JobArgumentError('%s must not be negative, got %r' % (option, value))
        seconds = value
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise JobArgumentError('%s: expected a duration such as 90, "15m", "12h" or "7d", got %r' % (
                option, value))
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds > MAX_NUMBER:
        raise JobArgumentError('%s is too large: at most %d seconds' % (option, MAX_NUMBER))
    return float(seconds)


def check_finite(params, where=''):
    """Reject infinite and NaN numbers anywhere in the arguments (YAML's .inf and .nan), naming the option."""
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = '%s[%s]' % (where, key) if isinstance(key, int) else ('%s.%s' % (where, key) if where else str(key))
        if isinstance(value, float) and not math.isfinite(value):
            raise JobArgumentError('%s must be a finite number, got %r: leave the option out for no limit' % (name, value))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise JobArgumentError('%s is too large: no option takes a number beyond %d' % (name, MAX_NUMBER))
        if isinstance(value, (dict, list, tuple)):
            check_finite(value, name)


def check_common(params):
    """Controller- and target-side checks that an argument spec cannot express. Raises JobArgumentError."""
    for job_id in as_list(params.get('id')):
        check_job_id(job_id)
    seen = set()
    for job in params.get('jobs') or []:
        if job.get('id') is not None:
            check_job_id(job['id'])
            if job['id'] in seen:
                raise JobArgumentError('job id %s appears more than once in jobs: every job needs its own id' % job['id'])
            seen.add(job['id'])
        check_definition(job)
    if params.get('older_than') is not None:
        parse_duration(params['older_than'])
    if params.get('keep') and params.get('auto_remove'):
        raise JobArgumentError('keep and auto_remove contradict each other: auto_remove removes a job only after '
                               'all its output was consumed, which keep prevents')
    for key in ('timeout', 'grace', 'max_bytes'):
        value = params.get(key)
        if value is not None and value < 0:
            raise JobArgumentError('%s must not be negative, got %r' % (key, value))


def check_start(params):
    """A single start (no jobs: list) needs exactly one of command / argv."""
    if not params.get('jobs'):
        check_definition(params)
    elif params.get('command') is not None or params.get('argv') is not None:
        raise JobArgumentError('give either jobs (a list of job definitions) or one command/argv, not both')


def check_definition(job):
    """One job definition (a start, a jobs: item, a remote.jobs.job declaration): command xor argv and their values."""
    has_command = job.get('command') is not None
    has_argv = job.get('argv') is not None
    if has_command and has_argv:
        raise JobArgumentError('command and argv are mutually exclusive: give command (run by /bin/sh -c) or argv (run without a shell)')
    if not has_command and not has_argv:
        raise JobArgumentError('one of command or argv is required: give command (a shell string) or argv (a list)')
    if has_argv and job.get('executable') is not None:
        raise JobArgumentError('executable is the shell that runs command: argv runs its program directly, without one')
    if has_argv and not job['argv']:
        raise JobArgumentError('argv must name a program: it is an empty list')
    if has_command and not str(job['command']).strip():
        raise JobArgumentError('command is empty: give the shell command to run')
    if has_argv and not str(job['argv'][0]):
        raise JobArgumentError('argv[0] is empty: it must name the program to run')
    texts = [(key, job.get(key)) for key in ('command', 'executable', 'chdir', 'output_path', 'name')]
    texts += [('argv[%d]' % i, item) for i, item in enumerate(job.get('argv') or [])]
    for key, value in (job.get('env') or {}).items():
        if not str(key) or '=' in str(key) or '\0' in str(key):
            raise JobArgumentError('env: %r is not a variable name: a name is not empty and has no "=" or NUL byte'
                                   % (key,))
        if value is None:
            raise JobArgumentError('env.%s has no value: give a string ("" for an empty one)' % (key,))
        # A value is never shown: env values are secrets.
        texts.append(('the value of env.%s' % key, value))
    for key, value in texts:
        if value is not None and '\0' in str(value):
            raise JobArgumentError('%s contains a NUL byte, which no program can receive: remove it' % key)
    timeout = job.get('timeout')
    if timeout is not None and timeout <= 0:
        raise JobArgumentError('timeout must be a positive number of seconds, got %r' % (timeout,))
    if job.get('retention') is not None:
        parse_duration(job['retention'], 'retention')
    if job.get('output_path') is not None and job.get('results', 'target') != 'target':
        raise JobArgumentError('output_path sends stdout to a file on the target: it needs results: target')


# --- argument specs ---------------------------------------------------------------------------------------------
# Each verb: dict(argument_spec=..., and AnsibleModule / validate_argument_spec keywords).

_JOB_ROOT = dict(type='str')
_SELECTORS = dict(
    id=dict(type='list', elements='str'),
    name=dict(type='list', elements='str'),
)

# What defines a job: shared by remote.jobs.start and the declarative remote.jobs.job.
DEFINITION_OPTIONS = dict(
    command=dict(type='str'),
    executable=dict(type='str'),
    argv=dict(type='list', elements='str'),
    chdir=dict(type='str'),
    env=dict(type='dict', no_log=True),
    stdin=dict(type='str', no_log=True),
    timeout=dict(type='float'),
    output_path=dict(type='str'),
    results_dir=dict(type='str'),
    retention=dict(type='raw'),
)

_START_JOB_OPTIONS = dict(
    id=dict(type='str'),
    name=dict(type='str'),
    results=dict(type='str', choices=list(PLACEMENTS), default='target'),
    **DEFINITION_OPTIONS
)

SPECS = {
    'start': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            jobs=dict(type='list', elements='dict', options=_START_JOB_OPTIONS),
            **_START_JOB_OPTIONS
        ),
        mutually_exclusive=[('command', 'argv'), ('jobs', 'command'), ('jobs', 'argv')],
    ),
    'info': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            state=dict(type='list', elements='str', choices=list(STATES)),
            has_more_data=dict(type='bool'),
            **_SELECTORS
        ),
    ),
    'receive': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            keep=dict(type='bool', default=False),
            wait=dict(type='bool', default=False),
            timeout=dict(type='float'),
            max_bytes=dict(type='int', default=DEFAULT_MAX_BYTES),
            auto_remove=dict(type='bool', default=False),
            **_SELECTORS
        ),
        required_one_of=[('id', 'name')],
    ),
    'wait': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            any=dict(type='bool', default=False),
            timeout=dict(type='float'),
            fail_on_timeout=dict(type='bool', default=False),
            **_SELECTORS
        ),
        required_one_of=[('id', 'name')],
    ),
    'stop': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            grace=dict(type='float', default=DEFAULT_GRACE),
            **_SELECTORS
        ),
        required_one_of=[('id', 'name')],
    ),
    'remove': dict(
        argument_spec=dict(
            job_root=_JOB_ROOT,
            force=dict(type='bool', default=False),
            state=dict(type='list', elements='str', choices=list(STATES)),
            older_than=dict(type='raw'),
            **_SELECTORS
        ),
        required_one_of=[('id', 'name', 'state', 'older_than')],
    ),
}

# Options the action plugin passes to the module and a user never writes.
INTERNAL = {
    # _final: the last slice of a sliced wait (receive even if jobs still run);
    # _plan: describe output of results=controller jobs as pieces to fetch instead of returning it as text;
    # _commit: [{id, stream, start, end}] ranges the controller fetched and verified;
    # _read: {id, stream, start, end} a planned piece's bytes, base64 in the result (become to another user: the
    # connection cannot read the job's files).
    'receive': dict(_final=dict(type='bool', default=True), _plan=dict(type='bool', default=False),
                    _commit=dict(type='list', elements='dict'), _read=dict(type='dict')),
    # _plan: when the wait ended, describe the new output of ended results=controller jobs as pieces to fetch.
    'wait': dict(_plan=dict(type='bool', default=False)),
}


def module_spec(verb):
    """The spec a module builds its AnsibleModule from: the user spec plus internal options."""
    spec = dict(SPECS[verb])
    spec['argument_spec'] = dict(spec['argument_spec'], **INTERNAL.get(verb, {}))
    return spec


def spec(verb):
    """The full argument spec of a verb's module (user options plus the internal ones), job included."""
    if verb == 'job':
        from ansible_collections.remote.jobs.plugins.module_utils._declare import module_spec as job_spec

        return job_spec()
    return module_spec(verb)
