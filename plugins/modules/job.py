#!/usr/bin/python
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: job
short_description: Declare background jobs by name - started, finished, stopped or absent
version_added: 1.0.0
description:
  - Brings a job, keyed by O(name) on each host, to the declared O(state), and reports C(changed) only when it had
    to act, so a play that declares its jobs can run again and again.
  - O(state=started) starts the job unless a job of that name exists, running or finished.
    O(state=finished) does the same, then waits for the job's end and returns its output; the output is read with
    C(keep) semantics (see M(remote.jobs.receive)), so a second run returns it again and changes nothing.
    O(state=stopped) stops every running job of that name. O(state=absent) stops them, then removes every job of
    that name with its output.
  - The definition a job was started with (O(command) or O(argv), the names of O(env), O(chdir), O(timeout),
    O(results), O(output_path)) is compared with the one the task declares. A difference is reported in
    RV(definition_changed) and RV(differences), with a warning; with O(recreate=true) the job is replaced (stopped
    if running, removed, started again). O(stdin) and the values of O(env) are never stored, so they are never
    compared.
  - Many declarations in one task (O(jobs)) cost one round trip per host; all starts go to the target in one
    module call and all waits are one wait. Long waits run as slices shorter than the connection's timeouts, as in
    M(remote.jobs.wait).
  - The jobs are ordinary jobs; M(remote.jobs.info), M(remote.jobs.receive) and the other verbs see them.
extends_documentation_fragment:
  - remote.jobs._common
options:
  name:
    description:
      - The job's name, the key a declaration is matched by on each host. Required unless O(jobs) is given.
      - When several jobs share the name (started by M(remote.jobs.start)), the newest is the declared job for
        O(state=started) and O(state=finished); O(state=stopped) and O(state=absent) act on all of them.
    type: str
  state:
    description:
      - V(started) - the job exists (running or finished). Starts it if no job of that name exists.
      - V(finished) - the job exists and has ended. Starts it if needed, waits up to O(wait_timeout) for its end and
        returns its output. A job that ended V(failed) still reaches this state; check RV(state) (the job's own
        state). In check mode nothing is waited for.
      - V(stopped) - no job of that name runs. Stops the running ones; a job that does not exist is left alone.
        A V(lost) job whose command still runs unsupervised counts as running (see M(remote.jobs.stop)).
      - V(absent) - no job of that name exists. Stops the running ones (and what still runs of V(lost) ones) and
        removes all of them.
      - In O(jobs), the default for items that do not set their own.
    type: str
    choices: [started, finished, stopped, absent]
    default: started
  command:
    description:
      - Command line run by the target's shell (C(/bin/sh -c) on POSIX, a PowerShell script block on Windows).
      - Exactly one of O(command) and O(argv) is required for O(state=started) and O(state=finished).
        O(state=stopped) and O(state=absent) need neither; given, the definition is only compared.
    type: str
  executable:
    description:
      - The shell that runs O(command) with C(-c) on POSIX targets (default C(/bin/sh)), such as C(/bin/bash);
        on Windows targets the PowerShell that runs the script block. Not part of the compared definition.
    type: str
  argv:
    description:
      - Program and arguments, run without a shell. Mutually exclusive with O(command).
    type: list
    elements: str
  chdir:
    description:
      - Folder to run the command in. Defaults to the login user's home folder.
    type: str
  env:
    description:
      - Extra environment variables for the command.
      - Values are never written to the job folder, logged, compared, or shown in task output or in diff mode;
        only the names are stored and compared.
    type: dict
  stdin:
    description:
      - Text fed to the command's standard input, then closed. Never stored on the target, compared or shown.
    type: str
  timeout:
    description:
      - Maximum run time of the job in seconds, enforced on the target (see M(remote.jobs.start)).
      - Not how long this task waits; that is O(wait_timeout).
    type: float
  results:
    description:
      - Where the output lives, as in M(remote.jobs.start). V(target) keeps it in files on the target;
        V(controller) fetches it into O(results_dir) on the controller when it is received.
      - In O(jobs), the default for items that do not set their own.
    type: str
    choices: [target, controller]
    default: target
  output_path:
    description:
      - A file on the target that receives stdout, as in M(remote.jobs.start). Needs O(results=target).
    type: str
  results_dir:
    description:
      - Controller folder for O(results=controller), as in M(remote.jobs.start).
    type: str
  retention:
    description:
      - Remove the job automatically this long after it ends, as in M(remote.jobs.start); seconds, or a number with
        a unit C(s), C(m), C(h), C(d) or C(w), such as V(7d). Not part of the compared definition.
      - Once the job has been removed, the next run of a V(started) or V(finished) declaration starts it again.
    type: raw
  recreate:
    description:
      - Replace a job whose definition differs from the declared one (stop it if it runs, remove it, start the
        declared job). Without it a difference is only reported.
      - Applies to O(state=started) and O(state=finished).
      - In O(jobs), the default for items that do not set their own.
    type: bool
    default: false
  jobs:
    description:
      - Declare several jobs in one task, and one round trip per host. Each item takes O(jobs[].name) (required),
        O(jobs[].state), O(jobs[].command) or O(jobs[].argv), O(jobs[].chdir), O(jobs[].env), O(jobs[].stdin),
        O(jobs[].timeout), O(jobs[].results), O(jobs[].output_path), O(jobs[].results_dir) and
        O(jobs[].recreate). Items inherit O(state), O(results) and O(recreate) from the task.
      - Each name may appear once. Mutually exclusive with the single-job options (O(name), O(command), ...).
      - An empty list declares nothing and changes nothing.
    type: list
    elements: dict
    suboptions:
      name:
        description: The job's name, as O(name).
        type: str
        required: true
      state:
        description: The declared state, as O(state). Defaults to the task's O(state).
        type: str
        choices: [started, finished, stopped, absent]
      command:
        description: Command line run by the target's shell, as O(command).
        type: str
      executable:
        description: The shell that runs O(jobs[].command), as O(executable).
        type: str
      argv:
        description: Program and arguments, run without a shell, as O(argv).
        type: list
        elements: str
      chdir:
        description: Folder to run the command in, as O(chdir).
        type: str
      env:
        description: Extra environment variables, as O(env). Values are never stored, compared or shown.
        type: dict
      stdin:
        description: Text fed to standard input, as O(stdin). Never stored, compared or shown.
        type: str
      timeout:
        description: Maximum run time of the job in seconds, as O(timeout).
        type: float
      results:
        description: Where the output lives, as O(results). Defaults to the task's O(results).
        type: str
        choices: [target, controller]
      output_path:
        description: A file on the target that receives stdout, as O(output_path).
        type: str
      results_dir:
        description: Controller folder for O(jobs[].results=controller), as O(results_dir).
        type: str
      retention:
        description: Remove the job automatically this long after it ends, as O(retention).
        type: raw
      recreate:
        description: Replace the job when its definition differs, as O(recreate). Defaults to the task's O(recreate).
        type: bool
  wait_timeout:
    description:
      - For O(state=finished), the longest time in seconds to wait for the jobs to end. Unset waits as long as it
        takes (in slices shorter than the connection's timeouts).
      - When it passes with a job still running the task fails; the job keeps running, and a later run of the
        task waits for it again without starting another.
    type: float
  max_bytes:
    description:
      - For O(state=finished), the most bytes of each stream returned per job; RV(truncated) tells when there is
        more. The output is not consumed either way.
    type: int
    default: 1048576
  grace:
    description:
      - Seconds between the polite signal and the kill when a job is stopped (O(state=stopped), O(state=absent),
        or O(recreate=true)), as in M(remote.jobs.stop).
    type: float
    default: 5
  _final:
    description:
      - Internal, set by the action plugin; never set it in a task. V(false) on every call of a sliced wait but the
        last one.
    type: bool
    default: true
  _wait_slice:
    description:
      - Internal, set by the action plugin; never set it in a task. How long this module call may wait, in seconds.
    type: float
attributes:
  check_mode:
    support: full
    details: Reports what would be started, stopped, replaced or removed; changes nothing and waits for nothing.
  diff_mode:
    support: full
    details:
      - Returns each declared job before and after (state and definition; environment variable names only, never
        values).
notes:
  - The ids of jobs are chosen by the target; use O(name) to find a declared job with the other verbs.
  - A job that could not be started at all (spawn error, for example a missing O(chdir)) fails the task and does
    not count as existing, so the next run tries again.
  - For O(results=controller), O(state=finished) returns the output but does not fetch it; receive it with
    M(remote.jobs.receive) to fetch it into O(results_dir).
seealso:
  - module: remote.jobs.start
  - module: remote.jobs.receive
  - module: remote.jobs.wait
author:
  - remote.jobs contributors (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Keep a log shipper job around (started once; later runs report ok)
  remote.jobs.job:
    name: ship-logs
    command: tail -F /var/log/app.log | nc logs.example.com 5000
    timeout: 86400

- name: Run a migration once per host and show its output, even on later runs
  remote.jobs.job:
    name: migrate-2026-11
    argv: [/srv/app/bin/migrate, --to, '2026.11']
    state: finished
    wait_timeout: 1800
  register: migration

- name: Fail the play when the migration failed
  ansible.builtin.assert:
    that: migration.state == 'completed'
    fail_msg: "{{ migration.stderr }}"

- name: Replace the job when its definition changed
  remote.jobs.job:
    name: ship-logs
    command: tail -F /var/log/app.log | nc logs2.example.com 5000
    recreate: true

- name: Several jobs in one round trip per host
  remote.jobs.job:
    jobs:
      - name: warm-cache
        command: /srv/app/bin/warm-cache
        state: finished
      - name: nightly-report
        argv: [/srv/app/bin/report, --nightly]
        env:
          REPORT_TOKEN: "{{ vault_report_token }}"   # the value is never stored or shown
      - name: old-importer
        state: absent
    wait_timeout: 600

- name: Stop it, then get rid of it
  remote.jobs.job:
    name: ship-logs
    state: absent
'''

RETURN = r'''
jobs:
  description:
    - The declared jobs, one job object each (see M(remote.jobs.info) for every field). For O(state=stopped) and
      O(state=absent), every job of the name; removed jobs have RV(jobs[].removed=true).
    - For O(state=finished) each job object also has RV(jobs[].stdout), RV(jobs[].stderr), RV(jobs[].stdout_lines),
      RV(jobs[].stderr_lines) and RV(jobs[].truncated).
  returned: always
  type: list
  elements: dict
  contains:
    removed:
      description: Whether the job was removed.
      returned: for O(state=absent)
      type: bool
    stdout:
      description: The job's standard output (kept, not consumed), decoded as UTF-8.
      returned: for O(state=finished)
      type: str
    stderr:
      description: The job's standard error (kept, not consumed), decoded as UTF-8.
      returned: for O(state=finished)
      type: str
    stdout_lines:
      description: RV(jobs[].stdout) split into lines.
      returned: for O(state=finished)
      type: list
      elements: str
    stderr_lines:
      description: RV(jobs[].stderr) split into lines.
      returned: for O(state=finished)
      type: list
      elements: str
    truncated:
      description: V(true) when O(max_bytes) cut the output.
      returned: for O(state=finished)
      type: bool
definitions:
  description: One report per declaration, in the order declared.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The declared name.
      type: str
    state:
      description: The declared state (not the job's state, which is in RV(jobs)).
      type: str
    action:
      description:
        - What was done (or, in check mode, would be done) - V(none), V(started), V(recreated), V(stopped) or
          V(removed).
      type: str
    changed:
      description: Whether this declaration changed anything.
      type: bool
    definition_changed:
      description: Whether the existing job's definition differs from the declared one.
      type: bool
    differences:
      description:
        - "The fields that differ: C({field: {before, after}}); fields are C(command), C(argv), C(env_keys),
          C(chdir), C(timeout), C(results), C(output_path) (and C(results_dir) where the store records it)."
      type: dict
      sample: {command: {before: sleep 60, after: sleep 120}}
    ids:
      description: Ids of the jobs in RV(jobs) for this declaration.
      type: list
      elements: str
    replaced:
      description: Ids of the jobs removed to start the declared one (O(recreate=true), or jobs that never ran).
      type: list
      elements: str
action:
  description: RV(definitions[].action) of the single declared job.
  returned: when O(name) was given (not O(jobs))
  type: str
  sample: started
definition_changed:
  description: RV(definitions[].definition_changed) of the single declared job.
  returned: when O(name) was given (not O(jobs))
  type: bool
differences:
  description: RV(definitions[].differences) of the single declared job.
  returned: when O(name) was given (not O(jobs))
  type: dict
id:
  description: Id of the job, when the task returns exactly one job (its other fields are at the top level too).
  returned: when exactly one job is returned
  type: str
  sample: 20261124T193400-a1b2c3
state:
  description: The job's own state (V(running), V(completed), V(failed), V(stopped)), when exactly one job is returned.
  returned: when exactly one job is returned
  type: str
stdout:
  description: For O(state=finished) with one job, its standard output (kept, not consumed).
  returned: when O(state=finished) and exactly one job is returned
  type: str
stderr:
  description: For O(state=finished) with one job, its standard error (kept, not consumed).
  returned: when O(state=finished) and exactly one job is returned
  type: str
truncated:
  description: For O(state=finished) with one job, V(true) when O(max_bytes) cut its output.
  returned: when O(state=finished) and exactly one job is returned
  type: bool
timed_out:
  description: Whether O(wait_timeout) passed with a job of O(state=finished) still running (the task then fails).
  returned: when a declaration has O(state=finished), outside check mode
  type: bool
expired:
  description: Ids of jobs whose O(retention) had passed, removed before the declarations were looked at.
  returned: when any expired
  type: list
  elements: str
module_calls:
  description: How many module calls (round trips to the host) the task made; more than one only for long waits.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.remote.jobs.plugins.module_utils._module import run_module


def main():
    run_module('job')


if __name__ == '__main__':
    main()
