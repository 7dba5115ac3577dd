# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative jobs (remote.jobs.job): bring the jobs named in a task to a declared state on one host.

Private to the collection: may change in any release. Stdlib only, Python 3.8+.

A declaration is keyed by name on each host:

* ``started``  - start the job unless a job of that name exists (running or finished);
* ``finished`` - the same, then wait for its end and return its output (kept: nothing is consumed);
* ``stopped``  - stop every running job of that name;
* ``absent``   - stop every running job of that name, then remove them all.

The definition a job was started with (command or argv, env names, chdir, timeout, placement) is compared with
its job.json; a difference is reported, and with ``recreate`` the job is replaced (stop, remove, start).
Every declaration of a task is planned first, then acted on in one pass: all starts go to JobStore.start in
one call, and all waits are one JobStore.wait, so a batch costs one round trip however many jobs it names.

The argument spec lives here too: the module builds its AnsibleModule from it and the action plugin validates
the task against it on the controller.
"""

from __future__ import annotations

import fcntl
import os

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    DEFAULT_GRACE,
    DEFAULT_MAX_BYTES,
    DEFINITION_OPTIONS,
    PLACEMENTS,
    JobArgumentError,
    check_definition,
    job_result,
)

DECLARED_STATES = ('started', 'finished', 'stopped', 'absent')
ACTIONS = ('none', 'started', 'recreated', 'stopped', 'removed')

# --- argument spec ----------------------------------------------------------------------------------------------

_DEFINITION_OPTIONS = DEFINITION_OPTIONS

# An item of jobs: state, recreate and results default to the task's own options.
_ITEM_OPTIONS = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=list(DECLARED_STATES)),
    recreate=dict(type='bool'),
    results=dict(type='str', choices=list(PLACEMENTS)),
    **_DEFINITION_OPTIONS
)

SPEC = dict(
    argument_spec=dict(
        job_root=dict(type='str'),
        name=dict(type='str'),
        state=dict(type='str', choices=list(DECLARED_STATES), default='started'),
        recreate=dict(type='bool', default=False),
        results=dict(type='str', choices=list(PLACEMENTS), default='target'),
        jobs=dict(type='list', elements='dict', options=_ITEM_OPTIONS),
        wait_timeout=dict(type='float'),
        max_bytes=dict(type='int', default=DEFAULT_MAX_BYTES),
        grace=dict(type='float', default=DEFAULT_GRACE),
        **_DEFINITION_OPTIONS
    ),
    mutually_exclusive=[('command', 'argv')] + [('jobs', key) for key in ('name',) + tuple(_DEFINITION_OPTIONS)],
    required_one_of=[('name', 'jobs')],
)

# Options the action plugin passes to the module and a user never writes:
# _final: the last slice of a sliced wait (a timeout now fails the task instead of returning pending);
# _wait_slice: how long this module call may wait, in seconds (wait_timeout when unset).
INTERNAL = dict(
    _final=dict(type='bool', default=True),
    _wait_slice=dict(type='float'),
)


def module_spec():
    """The spec the module builds its AnsibleModule from: the user spec plus internal options."""
    spec = dict(SPEC)
    spec['argument_spec'] = dict(SPEC['argument_spec'], **INTERNAL)
    return spec


# --- validation -------------------------------------------------------------------------------------------------

_START_KEYS = ('name',) + tuple(_DEFINITION_OPTIONS) + ('results',)


def definitions(params):
    """The declarations of a task: its jobs list, or the one job its top-level options describe.

    Each is a dict of the start options plus state and recreate; items of jobs inherit state, recreate and
    results from the task when they do not set their own."""
    if params.get('jobs') is None:
        items = [{key: params.get(key) for key in _START_KEYS}]
    else:
        items = [dict(item) for item in params['jobs']]
    for item in items:
        for key in ('state', 'recreate', 'results'):
            if item.get(key) is None:
                item[key] = params.get(key)
        item['state'] = item['state'] or 'started'
        item['recreate'] = bool(item['recreate'])
        item['results'] = item['results'] or 'target'
    return items


def check_declare(params):
    """Checks an argument spec cannot express (controller and target). Returns definitions(params)."""
    for key in ('wait_timeout', 'max_bytes', 'grace'):
        value = params.get(key)
        if value is not None and value < 0:
            raise JobArgumentError('%s must not be negative, got %r' % (key, value))
    items = definitions(params)
    seen = set()
    for index, item in enumerate(items):
        where = 'jobs[%d]' % index if params.get('jobs') is not None else 'name'
        name = item.get('name')
        if not isinstance(name, str) or not name.strip():
            raise JobArgumentError('%s: a job needs a non-empty name, the key its declaration is matched by' % where)
        if name in seen:
            raise JobArgumentError('%s: the name %s is declared twice: each name may appear once in jobs'
                                   % (where, name))
        seen.add(name)
        defined = item.get('command') is not None or item.get('argv') is not None
        if item['state'] in ('started', 'finished') or defined:
            try:
                check_definition(item)
            except JobArgumentError as exc:
                raise JobArgumentError('job %s (state %s): %s' % (name, item['state'], exc))
    return items


# --- definitions ------------------------------------------------------------------------------------------------

def _path(value):
    return os.path.normpath(os.path.expanduser(value)) if value else None


def _number(value):
    return None if value is None else float(value)


def desired_definition(item):
    """What a declaration asks for, in the terms job.json records (env names only, never values)."""
    argv = item.get('argv')
    return {
        'command': item.get('command'),
        'argv': [str(a) for a in argv] if argv is not None else None,
        'env_keys': sorted(str(k) for k in (item.get('env') or {})),
        'chdir': item.get('chdir'),
        'timeout': _number(item.get('timeout')),
        'results': item.get('results') or 'target',
        'output_path': os.path.abspath(_path(item['output_path'])) if item.get('output_path') else None,
        'results_dir': item.get('results_dir'),
    }


def recorded_definition(job):
    """The definition in a job's job.json. results_dir only when the store records it."""
    spec = job.spec
    argv = spec.get('argv')
    recorded = {
        'command': spec.get('command'),
        'argv': list(argv) if argv is not None else None,
        'env_keys': sorted(spec.get('env_keys') or []),
        'chdir': spec.get('chdir'),
        'timeout': _number(spec.get('timeout')),
        'results': spec.get('results') or 'target',
        'output_path': spec.get('output_path'),
    }
    if 'results_dir' in spec:
        recorded['results_dir'] = spec.get('results_dir')
    return recorded


def definition_differences(desired, recorded):
    """{field: {before, after}} for every field of recorded whose value desired changes."""
    changed = {}
    for field, before in recorded.items():
        after = desired.get(field)
        same = _path(before) == _path(after) if field == 'chdir' else before == after
        if not same:
            changed[field] = {'before': before, 'after': after}
    return changed


def _diff_view(definition, name, state):
    """A job as diff mode shows it: its definition without empty fields."""
    view = {'name': name, 'state': state}
    view.update((k, v) for k, v in definition.items() if v not in (None, []) and not (k == 'results' and v == 'target'))
    return view


# --- one declaration --------------------------------------------------------------------------------------------

class _Declaration:
    """One declaration on this host: what exists, what to do, and what was done."""

    def __init__(self, store, item):
        self.item = item
        self.name = item['name']
        self.state = item['state']
        self.existing = store.select(names=[self.name])  # oldest first
        # A job that never ran (spawn error) does not count as the declared job: it is replaced.
        usable = [job for job in self.existing if job.state.get('reason') != 'spawn_error']
        self.current = usable[-1] if usable else None
        self.defined = item.get('command') is not None or item.get('argv') is not None
        self.differences = {}
        if self.current is not None and self.defined and self.state != 'absent':
            self.differences = definition_differences(desired_definition(item), recorded_definition(self.current))
        self.action = self._decide(store)
        self.job = self.current if self.state in ('started', 'finished') else None
        self.views = []
        self.replaced = []
        self.before = self._described(self.current)

    def _decide(self, store):
        if self.state in ('started', 'finished'):
            if self.current is None:
                return 'started'
            if self.differences and self.item['recreate']:
                return 'recreated'
            return 'none'
        if self.state == 'stopped':
            # A lost job whose command still runs unsupervised counts: stop ends it.
            return 'stopped' if any(store.still_running(self.existing)) else 'none'
        return 'removed' if self.existing else 'none'

    def _described(self, job):
        if job is None:
            return {'name': self.name, 'state': 'absent'}
        return _diff_view(recorded_definition(job), self.name, job.state.get('state'))

    @property
    def changed(self):
        return self.action != 'none'

    def warning(self):
        if self.differences and self.action == 'none' and self.state in ('started', 'finished'):
            return ('job %s (%s) differs from its definition in %s: pass recreate: true to replace it'
                    % (self.name, self.current.id, ', '.join(sorted(self.differences))))
        return None

    def start_spec(self):
        return {key: self.item.get(key) for key in _START_KEYS}

    def diff(self, check_mode):
        if self.action in ('started', 'recreated'):
            state = self.job.state.get('state') if self.job is not None and not check_mode else 'running'
            after = _diff_view(desired_definition(self.item), self.name, state)
        elif self.action == 'stopped':
            after = dict(self.before, state='stopped')
        elif self.action == 'removed':
            after = {'name': self.name, 'state': 'absent'}
        else:
            after = self.before
        return {'before': self.before, 'after': after, 'before_header': self.name, 'after_header': self.name}

    def report(self):
        return {
            'name': self.name,
            'state': self.state,
            'action': self.action,
            'changed': self.changed,
            'definition_changed': bool(self.differences),
            'differences': self.differences,
            'ids': [view['id'] for view in self.views],
            'replaced': self.replaced,
        }


# --- the declarations of one task -------------------------------------------------------------------------------

class _RootLock:
    """Serialises declarations against one job root, so two runs never both start the same name.

    flock(2) on the job root folder itself: no lock file is left among the jobs."""

    def __init__(self, store, enabled):
        self.path = store.root
        self.enabled = enabled
        self.fd = None

    def __enter__(self):
        if self.enabled:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _text(data):
    return data.decode('utf-8', errors='replace')


def declare(store, items, check_mode=False, diff=False, grace=DEFAULT_GRACE, wait_timeout=None, final=True,
            max_bytes=DEFAULT_MAX_BYTES, single=False, wait_label=None):
    """Bring every declaration in items (see definitions()) about on this host. Returns the task result.

    wait_timeout bounds the wait of finished declarations (None: as long as it takes). When it passes, the
    result is pending (final=False: the action plugin calls again) or failed (final=True); wait_label is the
    timeout the failure message names (the user's wait_timeout when this call waited only one slice of it).
    single: the task declared one job with top-level options; its report and job fields go to the top level."""
    expired = [] if check_mode else store.expire()  # retention: as every verb does, before anything is selected
    acting = not check_mode and any(item['state'] in ('started', 'finished') for item in items)
    if acting:
        store.ensure_root()
    with _RootLock(store, enabled=not check_mode and os.path.isdir(store.root)):
        plans = [_Declaration(store, item) for item in items]
        if not check_mode:
            _act(store, plans, grace)
    failures = ['job %s could not be started: %s' % (plan.name, plan.job.state.get('error'))
                for plan in plans if plan.action in ('started', 'recreated') and plan.job is not None
                and plan.job.state.get('reason') == 'spawn_error']
    waiting = [plan.job for plan in plans if plan.state == 'finished' and plan.job is not None]
    timed_out = False
    if waiting and not check_mode and not failures:
        timed_out = store.wait(waiting, timeout=wait_timeout)
    pending = timed_out and not final

    views = []
    for plan in plans:
        if plan.state in ('started', 'finished'):
            plan.views = [plan.job.view()] if plan.job is not None else []
        elif plan.state == 'stopped' or check_mode:
            plan.views = [job.view() for job in plan.existing]
        # else absent, acted on: _act kept the views of the removed jobs
        if plan.state == 'finished' and plan.job is not None and not pending:
            data, truncated = store.receive(plan.job, keep=True, max_bytes=max_bytes)
            stdout, stderr = _text(data['stdout']), _text(data['stderr'])
            plan.views[0].update(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                                 stderr_lines=stderr.splitlines(), truncated=truncated)
        views.extend(plan.views)
    reports = [plan.report() for plan in plans]

    changed = any(plan.changed for plan in plans)
    if single:
        report = reports[0]
        result = job_result(views, changed, definitions=reports, action=report['action'],
                            definition_changed=report['definition_changed'], differences=report['differences'])
    else:
        result = job_result(views, changed, definitions=reports)
    if expired:
        result['expired'] = expired
    warnings = [w for w in (plan.warning() for plan in plans) if w]
    if warnings:
        result['warnings'] = warnings
    if diff:
        diffs = [plan.diff(check_mode) for plan in plans]
        result['diff'] = diffs[0] if single else diffs
    if waiting and not check_mode:
        result['timed_out'] = timed_out
    if pending:
        result['pending'] = True
    elif timed_out:
        running = [plan for plan in plans
                   if plan.job is not None and plan.state == 'finished' and not plan.job.finished]
        result.update(failed=True, msg='%d job(s) still running after waiting %s seconds (wait_timeout): %s' % (
            len(running), wait_label if wait_label is not None else wait_timeout,
            ', '.join('%s (%s)' % (plan.name, plan.job.id) for plan in running)))
    if failures:
        result.update(failed=True, msg='; '.join(failures))
    return result


def _act(store, plans, grace):
    """Stop, remove and start what the plans decided: every stop of the task in one JobStore.stop_all call (one
    grace period for them all), every start in one JobStore.start call."""
    # Lost jobs too: stop_all ends what still runs of their commands (a removed record would leave it out of reach).
    stopping = [job for plan in plans if plan.action in ('started', 'recreated', 'stopped', 'removed')
                for job in plan.existing if not job.finished or job.state.get('reason') == 'lost']
    if stopping:
        store.stop_all(stopping, grace)
    starting = []
    for plan in plans:
        if plan.action in ('started', 'recreated'):
            # 'started' replaces only jobs that never ran (spawn errors); 'recreated' every job of the name.
            for job in plan.existing:
                store.remove(job)
                plan.replaced.append(job.id)
            starting.append(plan)
        elif plan.action == 'removed':
            for job in plan.existing:
                view = job.view()
                view['removed'] = store.remove(job)
                plan.views.append(view)
    if starting:
        for plan, job in zip(starting, store.start([plan.start_spec() for plan in starting])):
            plan.job = job
