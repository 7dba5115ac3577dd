# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side every remote.jobs action plugin shares.

Private to the collection: may change in any release.

An action plugin only names its verb; this base validates the arguments on the controller (so bad input
never reaches a target), fills job_root from the remote_jobs_root host variable, picks the POSIX or the
Windows module by the connection's shell family, and runs long waits as slices that each fit well inside
the connection's timeouts.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    SPECS,
    JobArgumentError,
    check_common,
    check_finite,
    check_start,
    one_line,
)
from ansible_collections.remote.jobs.plugins.plugin_utils import _direct
from ansible_collections.remote.jobs.plugins.plugin_utils._placement import Placement, PlacementError

display = Display()

DEFAULT_SLICE = 30.0
MIN_SLICE = 1.0


def is_windows(connection):
    """True when the connection's shell is PowerShell (winrm, psrp, ssh with shell_type powershell)."""
    return bool(getattr(getattr(connection, '_shell', None), '_IS_WINDOWS', False))


def job_root_default(action, args, task_vars):
    """Fill job_root from the remote_jobs_root variable of the host the task runs on, when the task sets none."""
    root = _direct.target_vars(action, task_vars).get('remote_jobs_root')
    if not args.get('job_root') and root is not None:  # job_root '' counts as not set
        args['job_root'] = str(action._templar.template(root))


def module_name(verb, connection):
    return 'remote.jobs.%s%s' % ('win_' if is_windows(connection) else '', verb)


class JobsAction(ActionBase):
    """Base of every remote.jobs action plugin. Subclasses set VERB."""

    VERB = None
    TRANSFERS_FILES = False
    _requires_connection = True

    # --- hooks ---------------------------------------------------------------------------------------------------
    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        try:
            check_finite(self._task.args)
            args = self._validated_args(task_vars)
            result.update(self.run_verb(args, task_vars))
            Placement(self, task_vars).annotate(result)
            # A job's non-zero rc at the top level describes the job, not this task: the task failed only if
            # the module said so.
            result.setdefault('failed', False)
        except (AnsibleActionFail, JobArgumentError, PlacementError) as exc:
            result.update(failed=True, msg=one_line(getattr(exc, 'message', None) or str(exc)))
        return result

    def run_verb(self, args, task_vars):
        """One module call. Verbs that wait override this."""
        return self._run_module(args, task_vars)

    # --- helpers -------------------------------------------------------------------------------------------------
    def _validated_args(self, task_vars):
        _validation, args = self.validate_argument_spec(**SPECS[self.VERB])
        check_common(args)
        if self.VERB == 'start':
            check_start(args)
            # results_dir is a controller path: make it absolute here, relative to the playbook.
            for spec in [args] + list(args.get('jobs') or []):
                if spec.get('results_dir'):
                    spec['results_dir'] = Placement(self, task_vars).absolute(spec['results_dir'])
        job_root_default(self, args, task_vars)
        return args

    def _run_module(self, args, task_vars, _verb=None, **internal):
        """Run this verb's module (or _verb's) with args plus internal options; None values are left out."""
        module_args = {k: v for k, v in dict(args, **internal).items() if v is not None}
        verb = _verb or self.VERB
        name = module_name(verb, self._connection)
        result = None
        if not is_windows(self._connection):
            result = _direct.run(self, verb, module_args, task_vars)
        if result is None:
            result = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
        invocation = result.get('invocation')
        if isinstance(invocation, dict) and isinstance(invocation.get('module_args'), dict):
            shown = {k: v for k, v in invocation['module_args'].items() if not k.startswith('_')}
            for key in ('timeout', 'fail_on_timeout'):
                if key in args and key in shown:
                    shown[key] = args[key]
            invocation['module_args'] = shown
        return result

    def _slice_seconds(self, task_vars):
        """How long one module call may wait: below the connection's timeouts, or remote_jobs_wait_slice."""
        override = task_vars.get('remote_jobs_wait_slice')
        if override is not None:
            return max(MIN_SLICE, float(self._templar.template(override)))
        limits = []
        transport = str(self._connection.transport)
        for name, var in (('winrm', 'ansible_winrm_operation_timeout_sec'), ('psrp', 'ansible_psrp_operation_timeout')):
            if transport.rsplit('.', maxsplit=1)[-1] == name:
                limits.append(float(self._templar.template(task_vars.get(var, 20))) - 5)
        try:
            timeout = self._connection.get_option('timeout')
            if timeout:
                limits.append(float(timeout) - 2)
        except (KeyError, AttributeError, TypeError, ValueError):
            pass
        return max(MIN_SLICE, min(limits + [DEFAULT_SLICE]))

    def _sliced(self, args, task_vars, done, internal):
        """Call the module repeatedly, each call waiting at most one slice, until done(result) or the timeout."""
        timeout = args.get('timeout')
        slice_seconds = self._slice_seconds(task_vars)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        calls = 0
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            final = remaining is not None and remaining <= slice_seconds
            this_slice = slice_seconds if final is False else remaining
            result = self._run_module(args, task_vars, timeout=this_slice, **internal(final))
            calls += 1
            if result.get('failed') or done(result) or final:
                result['wait_calls'] = calls
                return result
            self._progress(result, time.monotonic() - started, task_vars)

    def _progress(self, result, elapsed, task_vars):
        jobs = result.get('jobs') or []
        finished = sum(1 for job in jobs if job.get('state') != 'running')
        display.display('%s: %s: %d of %d job(s) finished after %ds' % (
            self._task.get_name(), task_vars.get('inventory_hostname', ''), finished, len(jobs), elapsed))
