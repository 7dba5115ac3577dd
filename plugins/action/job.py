# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.remote.jobs.plugins.module_utils._declare import SPEC, check_declare, definitions
from ansible_collections.remote.jobs.plugins.plugin_utils._action import JobsAction, job_root_default


class _SliceArgs(dict):
    """What JobsAction._sliced reads (timeout: the whole wait) wrapped around the module's real arguments.

    _sliced passes each slice's length as timeout=, which for this module is the job's own run time; _run_module
    below hands it to the module as _wait_slice instead."""

    def __init__(self, args):
        super().__init__(timeout=args.get('wait_timeout'))
        self.module_args = args


class ActionModule(JobsAction):
    VERB = 'job'

    def _validated_args(self, task_vars):
        _validation, args = self.validate_argument_spec(**SPEC)
        check_declare(args)
        job_root_default(self, args, task_vars)
        return args

    def run_verb(self, args, task_vars):
        self._calls = []
        if args.get('jobs') is not None:
            # The validated items carry every sub-option, unset ones as None; the module fills in its own defaults.
            args = dict(args, jobs=[{k: v for k, v in item.items() if v is not None} for item in args['jobs']])
        if self._task.check_mode or not any(item['state'] == 'finished' for item in definitions(args)):
            result = self._run_module(args, task_vars)
        else:
            result = self._sliced(_SliceArgs(args), task_vars, done=lambda r: not r.get('pending'),
                                  internal=lambda final: {'_final': final})
        return _merged(self._calls, result)

    def _run_module(self, args, task_vars, *more, **internal):
        if isinstance(args, _SliceArgs):
            internal['_wait_slice'] = internal.pop('timeout', None)
            args = args.module_args
        result = super()._run_module(args, task_vars, *more, **internal)
        self._calls.append(result)
        return result


def _merged(calls, result):
    """A sliced run as one task result: what the first call did (started, replaced) is what the task did."""
    result['module_calls'] = len(calls)
    first = calls[0]
    if len(calls) == 1 or first.get('failed'):
        return result
    result['changed'] = any(call.get('changed') for call in calls)
    for key in ('action', 'definition_changed', 'differences', 'diff'):
        if key in first:
            result[key] = first[key]
    for early, late in zip(first.get('definitions') or [], result.get('definitions') or []):
        if early.get('changed'):
            late.update((k, early[k]) for k in ('action', 'changed', 'definition_changed', 'differences', 'replaced'))
    warnings = []
    for call in calls:
        warnings.extend(w for w in call.get('warnings') or [] if w not in warnings)
    if warnings:
        result['warnings'] = warnings
    return result
