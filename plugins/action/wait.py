# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.remote.jobs.plugins.plugin_utils._action import JobsAction


class ActionModule(JobsAction):
    VERB = 'wait'

    def run_verb(self, args, task_vars):
        result = self._sliced(args, task_vars, done=lambda r: not r.get('timed_out'),
                              internal=lambda final: {'fail_on_timeout': False})
        if result.get('timed_out') and args['fail_on_timeout'] and not result.get('failed'):
            running = [job['id'] for job in result.get('jobs', []) if job.get('state') == 'running']
            result.update(failed=True, msg='%d of %d job(s) still running after %s seconds: %s' % (
                len(running), len(result.get('jobs', [])), args['timeout'], ', '.join(running)))
        return result
