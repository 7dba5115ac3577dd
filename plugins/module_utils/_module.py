# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target-side entry point shared by the POSIX modules: builds the AnsibleModule, runs one verb, maps errors.

Private to the collection: may change in any release.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    DEFAULT_GRACE,
    NOT_AT_TOP,
    JobArgumentError,
    check_common,
    check_start,
    module_spec,
    one_line,
)
from ansible_collections.remote.jobs.plugins.module_utils._jobstore import JobStore, JobStoreError

DEFAULT_JOB_ROOT = '~/.ansible_jobs'
_START_KEYS = ('id', 'name', 'command', 'executable', 'argv', 'chdir', 'env', 'stdin', 'timeout', 'results', 'output_path', 'results_dir',
               'retention')


def job_result(views, changed, **extra):
    """Every result has jobs; a result about exactly one job also carries its fields at the top level."""
    result = dict(changed=changed, jobs=views, **extra)
    if len(views) == 1:
        for key, value in views[0].items():
            if key not in NOT_AT_TOP:
                result.setdefault(key, value)
    return result


def _start(module, store, p):
    specs = p['jobs'] or [{key: p.get(key) for key in _START_KEYS}]
    if module.check_mode:
        return job_result([], True, msg='would start %d job(s)' % len(specs))
    views = [job.view() for job in store.start(specs)]
    broken = [v for v in views if v['reason'] == 'spawn_error']
    if broken:
        module.fail_json(msg='; '.join('job %s%s could not be started: %s' % (
            v['id'], ' (%s)' % v['name'] if v['name'] else '', v['error']) for v in broken), jobs=views)
    return job_result(views, True)


def _info(module, store, p):
    jobs = store.select(ids=p['id'], names=p['name'], glob=True, states=p['state'], has_more_data=p['has_more_data'])
    return job_result([job.view() for job in jobs], False)


def _text(data):
    return data.decode('utf-8', errors='replace')


def _receive(module, store, p):
    """Receive output. With _plan (what the action plugin always asks for) nothing is consumed here: the result
    says which ranges were read (target) or which pieces to fetch (controller), and a second call with _commit
    records what the controller really got, so a dropped connection never loses output."""
    jobs = store.select(ids=p['id'], names=p['name'], require=True)
    if p['_commit'] is not None:
        return _commit(module, store, p, jobs)
    timed_out = False
    if p['wait']:
        timed_out = store.wait(jobs, timeout=p['timeout'])
        if timed_out and not p['_final']:
            return job_result([job.view() for job in jobs], False, pending=True, timed_out=True)
    keep = p['keep'] or module.check_mode
    views, changed = [], False
    for job in jobs:
        if p['_plan'] and job.spec.get('results') == 'controller':
            view = job.view()
            view['pieces'] = [] if module.check_mode else store.plan_fetch(job)
            views.append(view)
            continue
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
    return job_result(views, changed, timed_out=timed_out)


def _commit(module, store, p, jobs):
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


def _wait(module, store, p):
    jobs = store.select(ids=p['id'], names=p['name'], require=True)
    timed_out = store.wait(jobs, any_=p['any'], timeout=p['timeout'])
    views = [job.view() for job in jobs]
    if timed_out and p['fail_on_timeout']:
        running = [v['id'] for v in views if v['state'] == 'running']
        module.fail_json(msg='%d of %d job(s) still running after %s seconds: %s' % (
            len(running), len(views), p['timeout'], ', '.join(running)), jobs=views, timed_out=True)
    return job_result(views, False, timed_out=timed_out)


def _stop(module, store, p):
    jobs = store.select(ids=p['id'], names=p['name'], require=True)
    if module.check_mode:
        return job_result([job.view() for job in jobs], any(not job.finished for job in jobs))
    changed = False
    for job in jobs:
        changed = store.stop(job, p['grace']) or changed
    return job_result([job.view() for job in jobs], changed)


def _remove(module, store, p):
    jobs = store.select(ids=p['id'], names=p['name'], glob=True, states=p['state'], older_than=p['older_than'])
    running = [job for job in jobs if not job.finished]
    if running and not p['force']:
        raise JobStoreError('refusing to remove running job(s) %s: stop them first, or pass force: true to stop and remove'
                            % ', '.join(job.id for job in running))
    views = [job.view() for job in jobs]
    if module.check_mode:
        return job_result(views, bool(jobs))
    for job, view in zip(jobs, views):
        if not job.finished:
            store.stop(job, DEFAULT_GRACE)
            job.reload()
            view.update(job.view())
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


def run_module(verb):
    module = AnsibleModule(supports_check_mode=True, **module_spec(verb))
    params = module.params
    try:
        check_common(params)
        if verb == 'start':
            check_start(params)
        store = JobStore(params['job_root'] or DEFAULT_JOB_ROOT)
        expired = [] if module.check_mode else store.expire()
        result = VERBS[verb](module, store, params)
        if expired:
            result['expired'] = expired
    except (JobArgumentError, JobStoreError) as exc:
        module.fail_json(msg=one_line(exc))
    except OSError as exc:
        module.fail_json(msg=one_line('%s failed on the target: %s%s' % (
            verb, exc.strerror or exc, ': %s' % exc.filename if getattr(exc, 'filename', None) else '')))
    module.exit_json(**result)
