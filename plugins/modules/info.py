#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: info
short_description: List background jobs and their state (Get-Job)
version_added: 1.0.0
description:
  - Lists the jobs in the job root, filtered by id, name, state and O(has_more_data).
  - Never changes a job. A running job whose supervisor has vanished (killed, or the host rebooted; the process
    start time guards against pid reuse) is reported, and recorded, as V(failed) with reason V(lost).
  - An id that names no job is not an error here; the job is simply not listed.
extends_documentation_fragment:
  - remote.jobs._common
  - remote.jobs._common.selectors
options:
  name:
    description:
      - Job names to list. Shell-style wildcards (C(*), C(?), C([...])) are allowed.
  state:
    description: List only jobs in these states.
    type: list
    elements: str
    choices: [running, completed, failed, stopped]
  has_more_data:
    description:
      - V(true) lists only jobs that are running or have output not yet received; V(false) only finished jobs
        whose output has all been received.
    type: bool
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: All jobs on the host
  remote.jobs.info:
  register: all_jobs

- name: Failed backup jobs
  remote.jobs.info:
    name: 'backup-*'
    state: failed

- name: Jobs with output still to receive
  remote.jobs.info:
    has_more_data: true
'''

RETURN = r'''
jobs:
  description: One job object per matching job, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The job id.
      type: str
      sample: 20261124T193400-a1b2c3
    name:
      description: The job name, if it was given one.
      type: str
    state:
      description: V(running), V(completed) (exit 0), V(failed) (non-zero exit, signal, spawn error or lost), V(stopped).
      type: str
    reason:
      description: Why a finished job ended; V(exit), V(signal), V(timeout), V(stop), V(spawn_error) or V(lost).
      type: str
    has_more_data:
      description: Whether the job runs or has output that was not received yet.
      type: bool
    location:
      description: Host name of the target.
      type: str
    command:
      description: The command, or the argv quoted as a shell would.
      type: str
    argv:
      description: The argv list, when the job was started with one.
      type: list
      elements: str
    chdir:
      description: The working folder given at start.
      type: str
    timeout:
      description: The maximum run time given at start, in seconds.
      type: float
    pid:
      description: Process id of the command.
      type: int
    rc:
      description: Exit code, once the job has exited (null when a signal ended it).
      type: int
    signal:
      description: Number of the signal that ended the command, if one did.
      type: int
    error:
      description: What went wrong, for spawn errors, lost jobs and timeouts.
      type: str
    started:
      description: When the job started, ISO 8601 UTC.
      type: str
      sample: '2026-11-24T19:34:00.123Z'
    finished:
      description: When the job ended, ISO 8601 UTC; null while it runs.
      type: str
    results:
      description: Where output is placed, V(target) or V(controller).
      type: str
    stdout_path:
      description: File on the target that holds stdout.
      type: str
    stderr_path:
      description: File on the target that holds stderr.
      type: str
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('info')


if __name__ == '__main__':
    main()
