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
  - Every process found in the tree counts until it ends, also after it left the tree, so a child that ignores
    SIGTERM (in the process group or C(setsid)'d) is killed after O(grace) even when the command itself died of
    the SIGTERM at once and its supervisor has recorded the end. Process start times keep a pid that was reused
    meanwhile from being signalled.
  - All selected jobs are stopped together and share one O(grace) period, so stopping many jobs that ignore
    SIGTERM takes O(grace) seconds, not O(grace) seconds per job. The same holds for M(remote.jobs.remove) with
    O(remote.jobs.remove#module:force=true) and for the jobs one M(remote.jobs.job) task stops or replaces.
  - The job ends V(stopped) with reason V(stop). Stopping a job that has already ended changes nothing.
  - A V(lost) job whose command, or a process of the command's process group, still runs unsupervised is ended
    too (the job stays V(failed)/V(lost); its C(error) says that stop ended what was left). Processes that
    left a lost job's process group (C(setsid)) cannot be told from others once its supervisor is gone, and a job
    lost to a reboot has nothing left to end.
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
    details:
      - Stops nothing.
      - A job that does not exist (a start earlier in the same check run starts nothing) is left out with a
        warning instead of failing the task.
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
