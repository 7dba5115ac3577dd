#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: remove
short_description: Delete job records and output (Remove-Job)
version_added: 1.0.0
description:
  - Deletes the job folders of the selected jobs (moved out of sight atomically, then deleted).
  - Refuses running jobs, and then removes nothing, unless O(force=true), which stops them first.
  - Removing a job that does not exist changes nothing, so the task is idempotent.
  - A file named by O(remote.jobs.start#module:output_path) is the user's and is left in place.
extends_documentation_fragment:
  - remote.jobs._common
  - remote.jobs._common.selectors
options:
  name:
    description:
      - Job names to remove. Shell-style wildcards (C(*), C(?), C([...])) are allowed.
  state:
    description: Remove only jobs in these states.
    type: list
    elements: str
    choices: [running, completed, failed, stopped]
  older_than:
    description:
      - Remove only jobs that finished longer ago than this; seconds, or a number with a unit
        C(s), C(m), C(h), C(d) or C(w), such as V(7d). Running jobs never match.
    type: raw
  force:
    description:
      - Stop running jobs (SIGTERM, 5 seconds, SIGKILL) and remove them too.
      - What still runs of a V(lost) job (see M(remote.jobs.stop)) is ended the same way before its record goes.
        Without O(force), a lost job is removed like any ended job and what still runs of it is left alone.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Remove one job
  remote.jobs.remove:
    id: "{{ build.id }}"

- name: Retention - drop finished jobs older than a week
  remote.jobs.remove:
    name: '*'
    older_than: 7d

- name: Stop and remove every backup job
  remote.jobs.remove:
    name: 'backup-*'
    force: true
'''

RETURN = r'''
jobs:
  description: One job object per removed job (see M(remote.jobs.info)), as it was before removal.
  returned: always
  type: list
  elements: dict
removed:
  description: Whether the job was removed, when exactly one job was selected.
  returned: when one job was selected
  type: bool
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('remove')


if __name__ == '__main__':
    main()
