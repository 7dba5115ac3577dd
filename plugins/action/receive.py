# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.remote.jobs.plugins.plugin_utils._action import JobsAction
from ansible_collections.remote.jobs.plugins.plugin_utils._placement import Placement


class ActionModule(JobsAction):
    VERB = 'receive'

    def run_verb(self, args, task_vars):
        if args['wait']:
            result = self._sliced(args, task_vars, done=lambda r: not r.get('pending'),
                                  internal=lambda final: {'_final': final, '_plan': True})
        else:
            result = self._run_module(args, task_vars, _plan=True)
        if result.get('failed'):
            return result
        return Placement(self, task_vars).complete(result, args)
