# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.remote.jobs.plugins.plugin_utils._action import JobsAction


class ActionModule(JobsAction):
    VERB = 'remove'
