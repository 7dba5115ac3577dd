# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target-side entry point of the POSIX modules: an AnsibleModule around _verbs.run.

Private to the collection: may change in any release.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.remote.jobs.plugins.module_utils._args import spec
from ansible_collections.remote.jobs.plugins.module_utils._verbs import VerbFailed, run


def run_module(verb):
    module = AnsibleModule(supports_check_mode=True, **spec(verb))
    try:
        result = run(verb, module.params, check_mode=module.check_mode, diff=module._diff)
    except VerbFailed as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(**result)
