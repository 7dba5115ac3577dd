#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: wait
short_description: Wait for jobs to end (Wait-Job)
version_added: 1.0.0
description:
  - Waits on the target, inside one module call, until every selected job has ended (or any one, with O(any=true)).
    Waiting for many jobs costs one round trip, not one per job. On Linux 5.3 and later with Python 3.9 and later
    the waiter wakes as soon as a job's supervisor has recorded its end; elsewhere it reads the jobs' state every
    50 ms.
  - Long waits run as several module calls ("slices"), each shorter than the connection's timeouts; set the host
    variable C(remote_jobs_wait_slice) to choose the slice length in seconds.
  - Running out of time is not an error unless O(fail_on_timeout=true); RV(timed_out) tells.
extends_documentation_fragment:
  - remote.jobs._common
  - remote.jobs._common.selectors
options:
  any:
    description: Return as soon as any selected job has ended.
    type: bool
    default: false
  timeout:
    description: Longest wait in seconds. Unset waits as long as it takes.
    type: float
  fail_on_timeout:
    description: Fail the task when O(timeout) passes with jobs still running.
    type: bool
    default: false
  _plan:
    description:
      - Internal, set by the action plugin; never set it in a task. When the wait ends, describe the new output of
        ended O(remote.jobs.start#module:results=controller) jobs as pieces for the controller to fetch.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - A job that does not exist (a start earlier in the same check run starts nothing) is left out with a
        warning instead of failing the task.
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Wait up to ten minutes for the shards
  remote.jobs.wait:
    name: [shard-1, shard-2, shard-3]
    timeout: 600
    fail_on_timeout: true

- name: Go on as soon as one mirror answers
  remote.jobs.wait:
    id: "{{ started.jobs | map(attribute='id') }}"
    any: true
'''

RETURN = r'''
jobs:
  description: One job object per selected job (see M(remote.jobs.info)).
  returned: always
  type: list
  elements: dict
timed_out:
  description: V(true) when O(timeout) passed before the jobs ended.
  returned: always
  type: bool
wait_calls:
  description: How many module calls (slices) the wait took.
  returned: always
  type: int
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('wait')


if __name__ == '__main__':
    main()
