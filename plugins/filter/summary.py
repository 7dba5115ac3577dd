# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: summary
short_description: One parent state for the jobs of a task on many hosts, like PowerShell's parent job
version_added: 1.0.0
description:
  - Turns the registered results of a remote.jobs task on many hosts into one summary, the way
    C(Invoke-Command -AsJob) gives one parent job whose child jobs run on the computers.
  - The parent state follows PowerShell's rules. V(running) while any job runs; once all have ended,
    V(failed) if any failed, else V(stopped) if any was stopped, else V(completed). With no job at all it is
    V(null).
  - Each job counts once per host and id, with the last state seen for it (so the results of several tasks may be
    summed up together). A job the task removed (C(removed=true), for example after C(auto_remove)) still counts
    with its final state; RV(_value.removed) says how many there are.
  - A host whose task failed or was unreachable without returning any job counts as one V(failed) child job
    (reason V(task_failed) or V(unreachable)), as PowerShell counts a computer it could not reach. Skipped hosts
    count for nothing.
positional: _input
options:
  _input:
    description:
      - The registered results, in one of these forms.
      - A dict host name -> registered result, for example
        C(dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'reg')))).
      - A list of registered results, for example C(ansible_play_hosts | map('extract', hostvars, 'reg')). Give
        O(hosts) to name the hosts; otherwise each is named by its jobs' C(location), or C(#<index>).
      - C(hostvars) itself (host name -> variables), with O(var) naming the registered variable. Hosts without it
        are left out.
      - A single registered result (a dict with C(jobs)), or a loop's result (with C(results)).
    type: raw
    required: true
  hosts:
    description: Host names for the items of a list input, in the same order (for example C(ansible_play_hosts)).
    type: list
    elements: str
  var:
    description: When the input is C(hostvars), the name of the registered variable to read on each host.
    type: str
'''

EXAMPLES = r'''
- name: Start the backup everywhere
  remote.jobs.start:
    name: backup
    command: /usr/local/bin/backup
  register: backup

- name: One state for the whole fleet (running, completed, failed or stopped)
  ansible.builtin.debug:
    msg: "{{ hostvars | remote.jobs.summary(var='backup') }}"
  run_once: true

- name: Poll until no host runs the backup any more
  remote.jobs.info:
    name: backup
  register: status
  until: >-
    (ansible_play_hosts | map('extract', hostvars, 'status') | remote.jobs.summary(hosts=ansible_play_hosts)).state
    != 'running'
  retries: 60
  delay: 10

- name: Fail the play once, with the hosts whose backup failed
  ansible.builtin.assert:
    that: fleet.state == 'completed'
    fail_msg: >-
      failed on {{ fleet.hosts | dict2items | selectattr('value.state', 'eq', 'failed') | map(attribute='key') }}
  vars:
    fleet: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'status')))
         | remote.jobs.summary }}
  run_once: true
'''

RETURN = r'''
_value:
  description: The parent job.
  type: dict
  contains:
    state:
      description: V(running), V(completed), V(failed) or V(stopped) by the rules above; V(null) with no jobs.
      type: str
    total:
      description: How many child jobs there are.
      type: int
    counts:
      description: Child jobs per state; the four states are always present.
      type: dict
      sample: {running: 0, completed: 2, failed: 1, stopped: 0}
    has_more_data:
      description: Whether any child job has output that was not received yet (or still runs).
      type: bool
    removed:
      description: How many of the child jobs were removed by the task that returned them.
      type: int
    hosts:
      description: Per host, the same summary of that host's jobs (C(state), C(total), C(counts), C(has_more_data),
        C(removed)) and the C(ids) of its jobs.
      type: dict
    child_jobs:
      description: Every child job, C(host), C(id), C(name), C(state), C(reason), C(has_more_data), C(removed), in
        the order first seen.
      type: list
      elements: dict
'''

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

STATES = ('running', 'completed', 'failed', 'stopped')
_RESULT_KEYS = ('jobs', 'changed', 'failed', 'skipped', 'unreachable', 'results', 'msg')


def parent_state(states):
    """PowerShell's parent job state from its child job states; None with no children.

    Running while any child runs; once all ended, failed if any failed, else stopped if any stopped, else
    completed. A state this collection does not know counts as failed."""
    states = list(states)
    if not states:
        return None
    if 'running' in states:
        return 'running'
    if any(state not in ('completed', 'stopped') for state in states):
        return 'failed'
    if 'stopped' in states:
        return 'stopped'
    return 'completed'


def _summary_of(children):
    counts = dict.fromkeys(STATES, 0)
    for child in children:
        counts[child['state']] = counts.get(child['state'], 0) + 1
    return {
        'state': parent_state(child['state'] for child in children),
        'total': len(children),
        'counts': counts,
        'has_more_data': any(child['has_more_data'] for child in children),
        'removed': sum(1 for child in children if child.get('removed')),
    }


def _host_results(data, hosts, var):
    """(host, registered result) pairs from any of the accepted input forms."""
    if isinstance(data, Mapping):
        if var is None and (isinstance(data.get('jobs'), list) or isinstance(data.get('results'), list)):
            return [(None, data)]  # one registered result
        pairs = []
        for host in data:
            value = data[host]
            if var is not None:
                if not isinstance(value, Mapping):
                    raise AnsibleFilterError('remote.jobs.summary: with var=, the input must be hostvars '
                                             '(host -> variables); %s maps to a %s' % (host, type(value).__name__))
                if var not in value:
                    continue
                value = value[var]
            pairs.append((str(host), value))
        return pairs
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        data = list(data)
        if hosts is not None:
            hosts = list(hosts)
            if len(hosts) != len(data):
                raise AnsibleFilterError('remote.jobs.summary: %d host names for %d results: hosts= must name each '
                                         'result of the list, in order' % (len(hosts), len(data)))
            return list(zip((str(h) for h in hosts), data))
        return [(None, item) for item in data]
    raise AnsibleFilterError('remote.jobs.summary: expected registered results (a list, or a dict host -> result), '
                             'got %s' % type(data).__name__)


def _flatten(result):
    """A registered result, or each item of a loop's result."""
    if isinstance(result, Mapping) and isinstance(result.get('results'), Sequence) and 'jobs' not in result:
        for item in result['results']:
            yield from _flatten(item)
    else:
        yield result


def summary(data, hosts=None, var=None):
    """The parent job of the jobs in registered results (see DOCUMENTATION)."""
    hosts_seen = {}   # host -> {(host, id): child}, in the order hosts and jobs were first seen
    for index, (host, result) in enumerate(_host_results(data, hosts, var)):
        for item in _flatten(result):
            if item is None:
                continue
            if not isinstance(item, Mapping) or not any(key in item for key in _RESULT_KEYS):
                raise AnsibleFilterError(
                    'remote.jobs.summary: item %s is not a registered task result (it has no jobs, changed, failed or '
                    'skipped); when the input is hostvars, name the registered variable with var=' % (host or index))
            if item.get('skipped'):
                continue
            jobs = [job for job in item.get('jobs') or [] if isinstance(job, Mapping)]
            name = host
            if name is None:
                name = next((str(job['location']) for job in jobs if job.get('location')), '#%d' % index)
            children = hosts_seen.setdefault(name, {})
            if not jobs and (item.get('failed') or item.get('unreachable')):
                # The task never got a job going on this host: one failed child, as PowerShell counts a computer
                # it could not reach.
                reason = 'unreachable' if item.get('unreachable') else 'task_failed'
                children[None] = {'host': name, 'id': None, 'name': None, 'state': 'failed', 'reason': reason,
                                  'has_more_data': False, 'removed': False, 'error': item.get('msg')}
                continue
            if jobs:
                children.pop(None, None)  # jobs seen later on this host: its task did get through
            for job in jobs:
                children[job.get('id')] = {
                    'host': name, 'id': job.get('id'), 'name': job.get('name'), 'state': job.get('state'),
                    'reason': job.get('reason'), 'has_more_data': bool(job.get('has_more_data')),
                    'removed': bool(job.get('removed')),
                }
    all_children = [child for children in hosts_seen.values() for child in children.values()]
    result = _summary_of(all_children)
    result['hosts'] = {
        host: dict(_summary_of(list(children.values())), ids=[key for key in children if key is not None])
        for host, children in hosts_seen.items()
    }
    result['child_jobs'] = all_children
    return result


class FilterModule:
    def filters(self):
        return {'summary': summary}
