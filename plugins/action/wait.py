# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.remote.jobs.plugins.module_utils._args import DEFAULT_MAX_BYTES, still_running
from ansible_collections.remote.jobs.plugins.plugin_utils._action import JobsAction
from ansible_collections.remote.jobs.plugins.plugin_utils._placement import Placement, set_jobs


class ActionModule(JobsAction):
    VERB = 'wait'

    def run_verb(self, args, task_vars):
        result = self._sliced(args, task_vars, done=lambda r: not r.get('timed_out'),
                              internal=lambda final: {'fail_on_timeout': False, '_plan': True})
        if result.get('failed'):
            return result
        self._pull_finished(result, args, task_vars)
        if result.get('timed_out') and args['fail_on_timeout']:
            result.update(failed=True, msg=still_running(result.get('jobs', []), args['timeout']))
        return result

    def _pull_finished(self, result, args, task_vars):
        """A wait that sees results=controller jobs end fetches their output to the controller.

        A wait that ended (not timed out) has already described their output as pieces, otherwise a receive call
        describes it first."""
        ended = [job for job in result.get('jobs', [])
                 if job.get('results') == 'controller' and job.get('state') != 'running' and job.get('has_more_data')]
        if not ended or self._task.check_mode:
            return
        receive_args = {'job_root': args.get('job_root'), 'id': [job['id'] for job in ended], 'keep': False,
                        'wait': False, 'max_bytes': DEFAULT_MAX_BYTES, 'auto_remove': False}
        if all('pieces' in job for job in ended):
            planned = {'jobs': [dict(job) for job in ended]}
        else:
            planned = self._run_module(receive_args, task_vars, _plan=True, _verb='receive')
            if planned.get('failed'):
                result.update(failed=True, msg=planned.get('msg'))
                return
        Placement(self, task_vars).complete(planned, receive_args, with_text=False)
        fetched = {job['id']: job for job in planned.get('jobs', [])}
        views = [dict({k: v for k, v in job.items() if k != 'pieces'},
                      **{k: fetched[job['id']][k] for k in ('has_more_data', 'dest', 'fetched_bytes')
                         if k in fetched.get(job['id'], {})}) for job in result['jobs']]
        set_jobs(result, views)
