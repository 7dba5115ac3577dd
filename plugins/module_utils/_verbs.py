# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every verb does on a POSIX target, without Ansible: run(verb, params) -> result.

Private to the collection: may change in any release. Stdlib only, Python 3.8+.

Two callers run this same code: the modules (_module.py wraps it in an AnsibleModule) and the action plugins'
direct path (plugin_utils/_direct.py sends these files, already-validated arguments included, to the target's
Python and reads back the JSON printed by main()).
"""

from __future__ import annotations

import json
import os
import sys

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    DEFAULT_GRACE,
    DEFAULT_JOB_ROOT,
    JobArgumentError,
    check_common,
    check_start,
    job_result,
    one_line,
    still_running,
)
from ansible_collections.remote.jobs.plugins.module_utils._jobstore import (
    JobStore,
    JobStoreError,
    job_view,
    new_job_id,
    user_path,
)

_START_KEYS = ('id', 'name', 'command', 'executable', 'argv', 'chdir', 'env', 'stdin', 'timeout', 'results', 'output_path',
               'results_dir', 'retention')


class VerbFailed(Exception):
    """The task fails with msg; fields (jobs, timed_out, ...) go into the failed result as well."""

    def __init__(self, msg, **fields):
        super().__init__(msg)
        self.msg = msg
        self.fields = fields


def _text(data):
    return data.decode('utf-8', errors='replace')


def _start(store, p, check_mode):
    specs = p['jobs'] or [{key: p.get(key) for key in _START_KEYS}]
    if check_mode:
        # What a real run would return, ids included, so a check run can go on to the tasks that use them.
        return job_result([_would_start(store, spec) for spec in specs], True,
                          msg='would start %d job(s)' % len(specs))
    try:
        jobs = store.start(specs)
    except JobStoreError as exc:
        running = [job.view() for job in getattr(exc, 'started', [])]
        if not running:
            raise
        # The jobs before the one that failed run: the failed task still reports them, and that it changed things.
        raise VerbFailed(one_line('%s; the %d job(s) before it were started and run: %s' % (
            exc, len(running), ', '.join(v['id'] for v in running))), jobs=running, changed=True)
    views = [job.view() for job in jobs]
    broken = [v for v in views if v['reason'] == 'spawn_error']
    if broken:
        raise VerbFailed('; '.join('job %s%s could not be started: %s' % (
            v['id'], ' (%s)' % v['name'] if v['name'] else '', v['error']) for v in broken), jobs=views)
    return job_result(views, True)


def _warned(result, warnings):
    if warnings:
        result['warnings'] = warnings
    return result


def _would_start(store, spec):
    """The view a job started from spec would have at first (check mode)."""
    job_id = spec.get('id') or new_job_id()
    job_dir = os.path.join(store.root, job_id)
    stdout_path = user_path(spec['output_path']) if spec.get('output_path') else os.path.join(job_dir, 'stdout')
    record = dict(spec, location=store.location, results=spec.get('results') or 'target')
    return job_view(job_id, record, {'state': 'running'}, True, stdout_path, os.path.join(job_dir, 'stderr'))


def _select_existing(store, p, check_mode):
    """The jobs a receive/wait/stop acts on: every id and name must match, except in check mode, where a job that
    a start in the same check run would have created is missing; it is left out with a warning."""
    if not check_mode:
        return store.select(ids=p['id'], names=p['name'], require=True), []
    jobs = store.select(ids=p['id'], names=p['name'])
    found_ids, found_names = {job.id for job in jobs}, {job.spec.get('name') for job in jobs}
    missing = ['id %s' % i for i in p['id'] or [] if i not in found_ids]
    missing += ['name %s' % n for n in p['name'] or [] if n not in found_names and not p['id']]
    return jobs, ['check mode: no job with %s (a start earlier in this check run would have created it, but check '
                  'mode starts nothing)' % what for what in missing]


def _info(store, p, check_mode):
    jobs = store.select(ids=p['id'], names=p['name'], glob=True, states=p['state'], has_more_data=p['has_more_data'])
    return job_result([job.view() for job in jobs], False)


def _receive(store, p, check_mode):
    """Receive output. With _plan (what the action plugin always asks for) nothing is consumed here: the result
    says which ranges were read (target) or which pieces to fetch (controller), and a second call with _commit
    records what the controller really got, so a dropped connection never loses output."""
    jobs, warnings = _select_existing(store, p, check_mode)
    if p['_commit'] is not None:
        return _commit(store, p, jobs)
    if p.get('_read') is not None:
        return _read(store, p['_read'], jobs)
    timed_out = False
    if p['wait']:
        timed_out = store.wait(jobs, timeout=p['timeout'])
        if timed_out and not p['_final']:
            return job_result([job.view() for job in jobs], False, pending=True, timed_out=True)
    keep = p['keep'] or check_mode
    views, changed = [], False
    for job in jobs:
        if p['_plan'] and job.spec.get('results') == 'controller' and not check_mode:
            view = job.view()
            view['pieces'] = store.plan_fetch(job)
            views.append(view)
            continue
        # Check mode (keep): a results=controller job's new output is returned as text, as for results=target; nothing
        # is fetched or written on the controller.
        if p['_plan']:
            data, truncated, starts = store.read_new(job, max_bytes=p['max_bytes'])
            ranges = {s: [starts[s], starts[s] + len(data[s])] for s in data if data[s]}
        else:
            data, truncated = store.receive(job, keep=keep, max_bytes=p['max_bytes'])
            ranges = None
        view = job.view()
        stdout, stderr = _text(data['stdout']), _text(data['stderr'])
        view.update(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines(),
                    truncated=truncated, removed=False, received_elsewhere=False)
        if ranges is not None:
            view['ranges'] = ranges
        elif not keep:
            changed = changed or bool(data['stdout'] or data['stderr'])
            if p['auto_remove'] and job.finished and not view['has_more_data']:
                view['removed'] = store.remove(job)
                changed = True
        views.append(view)
    return _warned(job_result(views, changed, timed_out=timed_out), warnings)


def _read(store, item, jobs):
    """A planned piece's bytes in the result (base64), for a controller that cannot fetch the job's files."""
    import base64

    job = next((job for job in jobs if job.id == item.get('id')), None)
    if job is None:
        raise JobStoreError('_read names job %r, which the selection does not hold' % (item.get('id'),))
    try:
        start, end = int(item.get('start')), int(item.get('end'))
    except (TypeError, ValueError):
        raise JobStoreError('_read needs integer start and end, got %r..%r' % (item.get('start'), item.get('end')))
    data = store.read_piece(job, item.get('stream'), start, end)
    return job_result([], False, data=base64.b64encode(data).decode('ascii'))


def _commit(store, p, jobs):
    """Second half of a receive: record the ranges the controller now holds."""
    by_id = {}
    for item in p['_commit']:
        by_id.setdefault(item.get('id'), {})[item.get('stream')] = (int(item.get('start')), int(item.get('end')))
    views, changed = [], False
    for job in jobs:
        accepted = store.commit(job, by_id[job.id]) if job.id in by_id else {}
        changed = changed or any(accepted.values())
        view = job.view()
        view.update(committed=accepted, removed=False)
        if p['auto_remove'] and job.finished and not view['has_more_data']:
            view['removed'] = store.remove(job)
            changed = True
        views.append(view)
    return job_result(views, changed)


def _wait(store, p, check_mode):
    jobs, warnings = _select_existing(store, p, check_mode)
    timed_out = store.wait(jobs, any_=p['any'], timeout=p['timeout'])
    views = [job.view() for job in jobs]
    if p.get('_plan') and not timed_out and not check_mode:
        # The action plugin fetches the output of ended results=controller jobs next: say what to fetch now,
        # which saves it a call.
        for job, view in zip(jobs, views):
            if job.spec.get('results') == 'controller' and job.finished and view['has_more_data']:
                view['pieces'] = store.plan_fetch(job)
    if timed_out and p['fail_on_timeout']:
        raise VerbFailed(still_running(views, p['timeout']), jobs=views, timed_out=True)
    return _warned(job_result(views, False, timed_out=timed_out), warnings)


def _stop(store, p, check_mode):
    jobs, warnings = _select_existing(store, p, check_mode)
    if check_mode:
        return _warned(job_result([job.view() for job in jobs], any(store.still_running(jobs))), warnings)
    changed = any(store.stop_all(jobs, p['grace']))
    return job_result([job.view() for job in jobs], changed)


def _remove(store, p, check_mode):
    jobs = store.select(ids=p['id'], names=p['name'], glob=True, states=p['state'], older_than=p['older_than'])
    running = [job for job in jobs if not job.finished]
    if running and not p['force']:
        raise JobStoreError('refusing to remove running job(s) %s: stop them first, or pass force: true to stop and remove'
                            % ', '.join(job.id for job in running))
    if check_mode:
        return job_result([job.view() for job in jobs], bool(jobs))
    # Lost jobs too: what still runs of their commands would be out of reach once the record is gone.
    stopping = [job for job in jobs if not job.finished or job.state.get('reason') == 'lost'] if p['force'] else []
    if stopping:
        store.stop_all(stopping, DEFAULT_GRACE)  # together: one grace period; it leaves each job's state reloaded
    views = [job.view() for job in jobs]
    for job, view in zip(jobs, views):
        view['removed'] = store.remove(job)
    return job_result(views, any(view['removed'] for view in views))


VERBS = {
    'start': _start,
    'info': _info,
    'receive': _receive,
    'wait': _wait,
    'stop': _stop,
    'remove': _remove,
}


def _job(p, check_mode, diff=False):
    from ansible_collections.remote.jobs.plugins.module_utils._declare import check_declare, declare

    wait_timeout = p['_wait_slice'] if p.get('_wait_slice') is not None else p['wait_timeout']
    items = check_declare(p)
    store = JobStore(p['job_root'] or DEFAULT_JOB_ROOT)
    result = declare(store, items, check_mode=check_mode, diff=diff, grace=p['grace'], wait_timeout=wait_timeout,
                     final=p['_final'], max_bytes=p['max_bytes'], single=p['jobs'] is None,
                     wait_label=p['wait_timeout'])
    if result.get('failed'):
        fields = dict(result)
        raise VerbFailed(fields.pop('msg'), **fields)
    return result


def run(verb, params, check_mode=False, diff=False):
    """Run one verb with validated params (defaults filled in). Returns the result; raises VerbFailed."""
    try:
        if verb == 'job':
            return _job(params, check_mode, diff)
        check_common(params)
        if verb == 'start':
            check_start(params)
        store = JobStore(params['job_root'] or DEFAULT_JOB_ROOT)
        expired = [] if check_mode else store.expire()
        result = VERBS[verb](store, params, check_mode)
        if expired:
            result['expired'] = expired
        return result
    except (JobArgumentError, JobStoreError) as exc:
        raise VerbFailed(one_line(exc))
    except OSError as exc:
        raise VerbFailed(one_line('%s failed on the target: %s%s' % (
            verb, exc.strerror or exc, ': %s' % exc.filename if getattr(exc, 'filename', None) else '')))


def main(request):
    """The direct path's entry point: request = {verb, params, check_mode, diff}; prints the result as JSON and
    returns it."""
    try:
        result = run(request['verb'], request['params'], request.get('check_mode', False), request.get('diff', False))
    except VerbFailed as exc:
        result = dict(exc.fields, failed=True, msg=exc.msg)
    except Exception as exc:  # a bug, not bad input: say so on one line, the traceback for -vvv
        import traceback
        result = dict(failed=True, msg=one_line('remote.jobs %s failed on the target: %s: %s' % (
            request.get('verb'), type(exc).__name__, exc)), exception=traceback.format_exc())
    result.setdefault('changed', False)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return result
