#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: start
short_description: Start background jobs that outlive the connection (Start-Job / Invoke-Command -AsJob)
version_added: 1.0.0
description:
  - Starts one job, or many in one round trip with O(jobs), and returns at once with their ids.
  - Each job runs under a detached supervisor on the target, so it keeps running after the SSH (or WinRM)
    connection that started it closes. The supervisor records the process id and start time, writes stdout and
    stderr to files as they are produced, enforces O(timeout) with no controller attached, and records the end.
  - Read jobs with M(remote.jobs.info), M(remote.jobs.receive) and M(remote.jobs.wait); end them with
    M(remote.jobs.stop) and M(remote.jobs.remove).
extends_documentation_fragment:
  - remote.jobs._common
options:
  command:
    description:
      - Command line run by the target's shell (C(/bin/sh -c) on POSIX, a PowerShell script block on Windows).
      - Exactly one of O(command) and O(argv) is required, unless O(jobs) is given.
    type: str
  executable:
    description:
      - The shell that runs O(command) with C(-c) on POSIX targets (default C(/bin/sh)), such as C(/bin/bash).
      - On Windows targets, the PowerShell that runs the script block, such as C(pwsh.exe)
        (default C(powershell.exe)).
    type: str
  argv:
    description:
      - Program and arguments, run without a shell. Exactly one of O(command) and O(argv) is required.
    type: list
    elements: str
  id:
    description:
      - Id for the new job. Generated when omitted (UTC time plus random hex, so ids sort by start time).
      - Starting a job with an id that exists fails.
    type: str
  name:
    description:
      - Friendly name; several jobs may share one. Select jobs by name in every other verb.
    type: str
  chdir:
    description:
      - Folder to run the command in. Defaults to the home folder of the user the job runs as (the C(become) user
        under C(become)); C(~) and relative paths are taken from that home folder too.
    type: str
  env:
    description:
      - Extra environment variables for the command.
      - The command also gets C(REMOTE_JOBS_JOB), its job's folder on the target. On POSIX M(remote.jobs.stop) finds
        what is left of a lost job (its supervisor gone) by it, even where processes left the job's process tree.
      - Values are never written to the job folder, logged, or shown in task output; only the names are stored.
    type: dict
  stdin:
    description:
      - Text fed to the command's standard input, then closed. Never stored on the target or shown.
    type: str
  timeout:
    description:
      - Maximum run time in seconds, enforced on the target by the supervisor even with no controller attached.
      - When it passes the job's process tree gets SIGTERM, then SIGKILL 5 seconds later; the job ends
        V(stopped) with reason V(timeout).
    type: float
  results:
    description:
      - Where the output lives.
      - V(target) keeps it in files on the target (the job folder, or O(output_path)) until received.
      - V(controller) fetches it into O(results_dir) on the controller when received; see the placement docs.
        With C(become) to another user than the connection's, the output travels in the receive module's results
        (8 MiB of base64 per call) rather than with the connection's file transfer, which cannot read the job's
        private folder.
    type: str
    choices: [target, controller]
    default: target
  output_path:
    description:
      - A file on the target that receives stdout instead of the job folder (appended), like
        C(Receive-Job > c:\logs\PsLog.txt). The job stays readable with M(remote.jobs.receive).
      - C(~) and relative paths are taken from the home folder of the user the job runs as.
      - The job's output is what it appends; text the file held before the job started is not part of it.
      - M(remote.jobs.remove) leaves this file in place.
    type: str
  results_dir:
    description:
      - Controller folder for O(results=controller). Defaults to the variable C(remote_jobs_results_dir), else
        C(job_results/) beside the playbook.
    type: str
  retention:
    description:
      - Remove the job automatically this long after it ends (like PowerShell's AutoRemoveJob); seconds, or a
        number with a unit C(s), C(m), C(h), C(d) or C(w), such as V(7d).
      - Expired jobs are removed by the next remote.jobs call on that host and listed in RV(expired).
      - Unset keeps finished jobs until M(remote.jobs.remove).
    type: raw
  jobs:
    description:
      - Start several jobs in one round trip. Each item takes the single-job options
        (O(jobs[].command) or O(jobs[].argv), O(jobs[].name), O(jobs[].id), O(jobs[].chdir), O(jobs[].env),
        O(jobs[].stdin), O(jobs[].timeout), O(jobs[].results), O(jobs[].output_path), O(jobs[].results_dir)).
      - Mutually exclusive with a top-level O(command) or O(argv).
    type: list
    elements: dict
    suboptions:
      command:
        description:
          - Command line run by the target's shell, as O(command). Exactly one of O(jobs[].command) and
            O(jobs[].argv) is required.
        type: str
      executable:
        description: The shell (POSIX) or PowerShell (Windows) that runs O(jobs[].command), as O(executable).
        type: str
      argv:
        description: Program and arguments, run without a shell, as O(argv).
        type: list
        elements: str
      id:
        description: Id for the new job, as O(id). Generated when omitted.
        type: str
      name:
        description: Friendly name, as O(name).
        type: str
      chdir:
        description: Folder to run the command in, as O(chdir).
        type: str
      env:
        description: Extra environment variables, as O(env). Values are never stored or shown.
        type: dict
      stdin:
        description: Text fed to standard input, as O(stdin). Never stored or shown.
        type: str
      timeout:
        description: Maximum run time in seconds, enforced on the target, as O(timeout).
        type: float
      results:
        description: Where the output lives, as O(results).
        type: str
        choices: [target, controller]
        default: target
      output_path:
        description: A file on the target that receives stdout, as O(output_path).
        type: str
      results_dir:
        description: Controller folder for O(jobs[].results=controller), as O(results_dir).
        type: str
      retention:
        description: Remove the job automatically this long after it ends, as O(retention).
        type: raw
attributes:
  check_mode:
    support: full
    details: Starts nothing; returns the jobs it would start, each with the id it would get, so later tasks can use them.
  diff_mode:
    support: none
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Start a named build that survives the SSH connection
  remote.jobs.start:
    name: nightly-build
    command: make -C /srv/app all > build.log 2>&1
    chdir: /srv/app
    timeout: 3600
  register: build

- name: Start several jobs at once
  remote.jobs.start:
    jobs:
      - name: backup-etc
        argv: [tar, czf, /var/backups/etc.tgz, /etc]
      - name: collect-logs
        command: journalctl --since today > /tmp/today.log
        env:
          LC_ALL: C
  register: started

- name: A job with a secret in its environment (never stored or shown)
  remote.jobs.start:
    name: upload
    argv: [/usr/local/bin/upload, --all]
    env:
      API_TOKEN: "{{ vault_api_token }}"
'''

RETURN = r'''
jobs:
  description: The jobs started, one job object each (see M(remote.jobs.info) for every field).
  returned: always
  type: list
  elements: dict
id:
  description: Id of the job, when exactly one was started.
  returned: when one job was started
  type: str
  sample: 20261124T193400-a1b2c3
name:
  description: Name of the job, when exactly one was started.
  returned: when one job was started
  type: str
state:
  description: V(running), or V(failed) with reason V(spawn_error) when the command could not be started.
  returned: when one job was started
  type: str
pid:
  description: Process id of the command (the leader of its own process group).
  returned: when one job was started
  type: int
expired:
  description: Ids of finished jobs removed because their O(retention) had passed (every verb reports these).
  returned: when any expired
  type: list
  elements: str
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('start')


if __name__ == '__main__':
    main()
