#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: stop
short_description: Stop running jobs and their whole process tree (Stop-Job)
version_added: 1.0.0
description:
  - Sends SIGTERM to the job's whole process tree (its process group, and on Linux every process below its
    supervisor, which is a child subreaper so orphaned grandchildren are found too), waits up to O(grace)
    seconds, then sends SIGKILL to what is left.
  - All selected jobs are stopped together and share one O(grace) period, so stopping many jobs that ignore
    SIGTERM takes O(grace) seconds, not O(grace) seconds per job. The same holds for M(remote.jobs.remove) with
    O(remote.jobs.remove#module:force=true) and for the jobs one M(remote.jobs.job) task stops or replaces.
  - The job ends V(stopped) with reason V(stop). Stopping a job that has already ended changes nothing.
  - A V(lost) job whose command still runs unsupervised is ended too.
extends_documentation_fragment:
  - remote.jobs._common
  - remote.jobs._common.selectors
options:
  grace:
    description: Seconds between the polite signal and the kill.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Stop the build
  remote.jobs.stop:
    name: nightly-build
    grace: 30
'''

RETURN = r'''
jobs:
  description: One job object per selected job (see M(remote.jobs.info)), after the stop.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('stop')


if __name__ == '__main__':
    main()
