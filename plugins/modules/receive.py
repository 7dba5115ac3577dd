#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: receive
short_description: Get the output a job produced since the last receive (Receive-Job)
version_added: 1.0.0
description:
  - Returns the stdout and stderr each selected job produced since the last receive, and marks it received,
    so repeated receives of a running job return consecutive pieces that add up to the whole output.
  - With O(keep=true) the output stays unread (C(Receive-Job -Keep)).
  - With O(wait=true) it first waits on the target for the jobs to end (C(Receive-Job -Wait)).
  - Readers of one job are serialised by a lock, so two concurrent consuming receives never return the same bytes.
extends_documentation_fragment:
  - remote.jobs._common
  - remote.jobs._common.selectors
options:
  keep:
    description: Leave the output unread, so the next receive returns it again.
    type: bool
    default: false
  wait:
    description: Wait for every selected job to end before receiving.
    type: bool
    default: false
  timeout:
    description:
      - With O(wait=true), the longest wait in seconds; then whatever output there is is returned and
        RV(timed_out) is V(true). Unset waits as long as it takes.
    type: float
  max_bytes:
    description:
      - Most bytes of each stream returned per job in one receive; the rest stays for the next receive and
        RV(truncated) says so. V(0) means no limit. A character is never split; when the first character is longer
        than O(max_bytes) bytes, that one character is returned.
      - For O(remote.jobs.start#module:results=controller) jobs every new byte is fetched into the controller files
        in one receive; O(max_bytes) bounds only the text in the task result, and RV(truncated) says it was cut.
    type: int
    default: 1048576
  auto_remove:
    description: Remove each job whose output has all been received and that has finished.
    type: bool
    default: false
  _final:
    description:
      - Internal, set by the action plugin; never set it in a task. V(false) on every call of a sliced wait but the
        last one.
    type: bool
    default: true
  _plan:
    description:
      - Internal, set by the action plugin; never set it in a task. Describe the new output of
        O(remote.jobs.start#module:results=controller) jobs as pieces for the controller to fetch.
    type: bool
    default: false
  _commit:
    description:
      - Internal, set by the action plugin; never set it in a task. The output ranges the controller has fetched and
        verified, to be counted as received.
    type: list
    elements: dict
  _read:
    description:
      - Internal, set by the action plugin; never set it in a task. Return the bytes of one planned piece (up to
        8 MiB, base64) in the result, for a controller whose connection cannot read the job's files (C(become) to
        another user).
    type: dict
attributes:
  check_mode:
    support: full
    details:
      - Behaves as O(keep=true).
      - A job that does not exist (a start earlier in the same check run starts nothing) is left out with a
        warning instead of failing the task.
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: What has the build printed so far?
  remote.jobs.receive:
    name: nightly-build
  register: progress

- name: Wait for the end, get all output, and clean up
  remote.jobs.receive:
    id: "{{ build.id }}"
    wait: true
    timeout: 3600
    auto_remove: true
  register: out

- name: Peek without consuming
  remote.jobs.receive:
    name: nightly-build
    keep: true
'''

RETURN = r'''
jobs:
  description: One job object per selected job (see M(remote.jobs.info)), with the output fields below.
  returned: always
  type: list
  elements: dict
stdout:
  description: Output received, decoded as UTF-8 (undecodable bytes replaced); also in each item of RV(jobs).
  returned: when one job was selected
  type: str
stderr:
  description: Error output received, decoded as UTF-8.
  returned: when one job was selected
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when one job was selected
  type: list
  elements: str
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when one job was selected
  type: list
  elements: str
truncated:
  description:
    - V(true) when O(max_bytes) cut the output; the rest is returned by the next receive (for
      O(remote.jobs.start#module:results=controller) jobs it is in the controller files already). While a job runs,
      also when an incomplete character at the end is held back for the next receive.
  returned: when one job was selected
  type: bool
received_elsewhere:
  description:
    - V(true) when another receive of the same job, running at the same time, consumed the output this one read
      first; that output is returned by the other receive (every byte goes to exactly one consumer), not here.
  returned: when one job was selected
  type: bool
removed:
  description: Whether O(auto_remove) removed the job.
  returned: when one job was selected
  type: bool
timed_out:
  description: V(true) when O(wait=true) gave up after O(timeout) seconds with jobs still running.
  returned: always
  type: bool
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('receive')


if __name__ == '__main__':
    main()
