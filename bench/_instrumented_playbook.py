# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-playbook with wall-clock timers in every worker process (for bench/breakdown.py).

Run as `python bench/_instrumented_playbook.py <ansible-playbook arguments>` with BENCH_PROFILE_DIR set. Each
worker (one per host and task) writes <pid>.json: its start/end time.time(), and the inclusive time spent in
building the module payload, ssh exec_command (one remote command: ssh mux + sh + the module's python),
fetch_file, tmp-dir handling and file transfers, and in remote.jobs' controller placement code. Nothing in
Ansible or the collection changes behaviour; the timers only wrap functions.

With BENCH_CPROFILE=1 every worker also dumps a cProfile (<pid>.prof).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time

OUT = os.environ['BENCH_PROFILE_DIR']
CPROFILE = os.environ.get('BENCH_CPROFILE') == '1'
_record = {}


def _timed(owner, name, key):
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            if _record:
                elapsed = time.monotonic() - started
                _record['timers'][key] = _record['timers'].get(key, 0.0) + elapsed
                _record['counts'][key] = _record['counts'].get(key, 0) + 1
                _record['calls'].append([key, round(started - _record['m0'], 4), round(elapsed, 4)])
    setattr(owner, name, wrapper)


def _patch_collection():
    try:
        from ansible_collections.remote.jobs.plugins.plugin_utils import _placement
    except ImportError:
        return
    if getattr(_placement, '_bench_patched', False):
        return
    _placement._bench_patched = True
    for name in ('_fetch_piece', '_append', '_write_job_json'):
        if hasattr(_placement.Placement, name):
            _timed(_placement.Placement, name, 'placement' + name)


def install():
    from ansible.executor.process import worker
    from ansible.plugins.action import ActionBase
    from ansible.plugins.connection import ssh

    _timed(ActionBase, '_execute_module', 'execute_module')
    _timed(ActionBase, '_configure_module', 'build_payload')
    _timed(ActionBase, '_make_tmp_path', 'make_tmp')
    _timed(ActionBase, '_remove_tmp_path', 'remove_tmp')
    _timed(ActionBase, '_transfer_data', 'transfer_file')
    _timed(ActionBase, '_fixup_perms2', 'fixup_perms')
    _timed(ssh.Connection, 'exec_command', 'ssh_exec')
    _timed(ssh.Connection, 'put_file', 'ssh_put')
    _timed(ssh.Connection, 'fetch_file', 'ssh_fetch')

    original_run = worker.WorkerProcess._run

    def _run(self):
        _patch_collection()
        _record.update(pid=os.getpid(), host=self._host.get_name(), task=self._task.get_name(),
                       action=self._task.action, t0=time.time(), m0=time.monotonic(), timers={}, counts={}, calls=[])
        profiler = None
        if CPROFILE:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        try:
            return original_run(self)
        except BaseException:
            import traceback
            with open(os.path.join(OUT, '%d.error' % os.getpid()), 'w') as handle:
                handle.write(traceback.format_exc())
            raise
        finally:
            if profiler:
                profiler.disable()
                profiler.dump_stats(os.path.join(OUT, '%d.prof' % os.getpid()))
            _record['t1'] = time.time()
            record = {k: v for k, v in _record.items() if k != 'm0'}
            with open(os.path.join(OUT, '%d.json' % os.getpid()), 'w') as handle:
                json.dump(record, handle)

    worker.WorkerProcess._run = _run


if __name__ == '__main__':
    install()
    from ansible.cli.playbook import main
    sys.argv[0] = 'ansible-playbook'
    sys.exit(main())
