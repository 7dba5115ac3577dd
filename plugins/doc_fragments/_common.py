# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by every remote.jobs verb. Private: may change in any release."""

from __future__ import annotations


class ModuleDocFragment:

    # job_root: every verb
    DOCUMENTATION = r'''
options:
  job_root:
    description:
      - Folder on the target that holds one sub-folder per job.
      - Defaults to the host variable C(remote_jobs_root) when set, else C(~/.ansible_jobs) on POSIX targets
        and C($env:USERPROFILE\.ansible_jobs) on Windows targets.
      - Created with mode C(0700) when missing. A job root owned by another user, or writable by group or others,
        is refused.
    type: str
attributes:
  action:
    description: Has an action plugin, which validates the arguments on the controller and picks the module to run.
    support: full
  action_group:
    description: Part of the action group C(remote.jobs.jobs), so C(module_defaults) set for C(group/remote.jobs.jobs) apply.
    support: full
    membership:
      - remote.jobs.jobs
  async:
    description:
      - Can run with the C(async) task keyword. Not needed here, a job outlives the task that started it.
    support: none
  check_mode:
    description: Can run in check mode and report whether it would change something, without changing the target.
  diff_mode:
    description: Returns what changed (or, in check mode, would change) when run in diff mode.
  platform:
    description:
      - Target operating systems. POSIX targets run the Python module; targets whose connection shell is
        PowerShell (WinRM, PSRP, or SSH with the PowerShell shell) run C(remote.jobs.win_<verb>) instead.
    support: full
    platforms: posix, windows
notes:
  - The action plugin validates every argument on the controller before anything runs on the target, and runs
    C(remote.jobs.win_<verb>) instead when the connection's shell is PowerShell.
  - On POSIX targets, when the connection pipelines, the action plugin runs this module's code directly in the
    Python Ansible would use for the module (same interpreter, environment and become), without building an
    AnsiballZ payload; results are the same. Set the host variable C(remote_jobs_direct=false) to run the module
    itself.
'''

    # id / name selectors
    SELECTORS = r'''
options:
  id:
    description:
      - Job ids to act on, as returned by M(remote.jobs.start) in RV(remote.jobs.start#module:id).
      - A job id matches C(^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$); anything else is refused before any path is built.
    type: list
    elements: str
  name:
    description:
      - Job names to act on. A job matches when its name equals any of the given names.
    type: list
    elements: str
'''
