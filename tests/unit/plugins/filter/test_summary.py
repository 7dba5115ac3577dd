# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remote.jobs.summary: PowerShell's parent-job rules over the registered results of many hosts."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.remote.jobs.plugins.filter.summary import FilterModule, parent_state, summary


def job(job_id, state, name=None, has_more_data=None, location=None, reason=None):
    return {'id': job_id, 'name': name or 'n-' + job_id, 'state': state, 'reason': reason, 'location': location,
            'has_more_data': state == 'running' if has_more_data is None else has_more_data}


def result(*jobs, **extra):
    return dict({'changed': False, 'jobs': list(jobs)}, **extra)


@pytest.mark.parametrize('states, parent', [
    ([], None),
    (['completed'], 'completed'),
    (['completed', 'completed'], 'completed'),
    (['running'], 'running'),
    (['completed', 'running', 'failed'], 'running'),     # any running: still running, even with failures
    (['stopped', 'running'], 'running'),
    (['completed', 'failed'], 'failed'),                  # all ended: any failed -> failed
    (['stopped', 'failed', 'completed'], 'failed'),       # failed beats stopped
    (['completed', 'stopped'], 'stopped'),                # no failure: any stopped -> stopped
    (['stopped'], 'stopped'),
    (['completed', 'blocked'], 'failed'),                 # a state we do not know is not a success
])
def test_parent_state_follows_powershell(states, parent):
    assert parent_state(states) == parent
    per_host = {'h%d' % i: result(job(str(i), state)) for i, state in enumerate(states)}
    assert summary(per_host)['state'] == parent


def test_counts_per_state_and_per_host():
    fleet = summary({
        'h1': result(job('a', 'completed', has_more_data=True), job('b', 'failed', reason='exit')),
        'h2': result(job('a', 'running')),
        'h3': result(job('c', 'stopped', has_more_data=False)),
    })
    assert fleet['state'] == 'running' and fleet['total'] == 4 and fleet['has_more_data'] is True
    assert fleet['counts'] == {'running': 1, 'completed': 1, 'failed': 1, 'stopped': 1}
    assert fleet['hosts']['h1'] == {'state': 'failed', 'total': 2, 'has_more_data': True, 'ids': ['a', 'b'],
                                    'removed': 0, 'counts': {'running': 0, 'completed': 1, 'failed': 1, 'stopped': 0}}
    assert fleet['hosts']['h2']['state'] == 'running' and fleet['hosts']['h2']['ids'] == ['a'], \
        'the same id on two hosts is two jobs'
    assert fleet['hosts']['h3'] == {'state': 'stopped', 'total': 1, 'has_more_data': False, 'ids': ['c'],
                                    'removed': 0, 'counts': {'running': 0, 'completed': 0, 'failed': 0, 'stopped': 1}}
    assert [(c['host'], c['id'], c['state']) for c in fleet['child_jobs']] == [
        ('h1', 'a', 'completed'), ('h1', 'b', 'failed'), ('h2', 'a', 'running'), ('h3', 'c', 'stopped')]


def test_a_list_takes_host_names_from_hosts_or_from_the_jobs_location():
    results = [result(job('a', 'completed', location='web1')), result(job('b', 'completed', location='web2'))]
    assert list(summary(results)['hosts']) == ['web1', 'web2']
    assert list(summary(results, hosts=['h1', 'h2'])['hosts']) == ['h1', 'h2']
    assert list(summary([result(), result(job('x', 'running'))])['hosts']) == ['#0', '#1']
    with pytest.raises(AnsibleFilterError, match=r'2 host names for 1 results: hosts= must name each result'):
        summary(results[:1], hosts=['h1', 'h2'])


def test_hostvars_with_var_reads_the_registered_variable_and_skips_hosts_without_it():
    hostvars = {
        'h1': {'inventory_hostname': 'h1', 'reg': result(job('a', 'completed'))},
        'h2': {'inventory_hostname': 'h2'},
        'h3': {'inventory_hostname': 'h3', 'reg': result(job('b', 'stopped'))},
    }
    fleet = summary(hostvars, var='reg')
    assert list(fleet['hosts']) == ['h1', 'h3'] and fleet['state'] == 'stopped'
    with pytest.raises(AnsibleFilterError, match=r'item h1 is not a registered task result .* with var='):
        summary(hostvars)
    with pytest.raises(AnsibleFilterError, match=r'with var=, the input must be hostvars'):
        summary({'h1': 'text'}, var='reg')


def test_a_single_result_and_a_loop_result():
    single = summary(result(job('a', 'completed', location='box'), job('b', 'failed', location='box')))
    assert single['state'] == 'failed' and single['total'] == 2 and list(single['hosts']) == ['box']
    loop = {'changed': True, 'results': [result(job('a', 'completed')), result(job('b', 'running'))]}
    looped = summary({'h1': loop, 'h2': result(job('c', 'completed'))})
    assert looped['hosts']['h1']['ids'] == ['a', 'b'] and looped['state'] == 'running'


def test_the_last_state_seen_for_a_job_wins():
    started = [result(job('a', 'running'), job('b', 'running'))]
    waited = [result(job('a', 'completed', has_more_data=True), job('b', 'completed', has_more_data=False))]
    fleet = summary(started + waited, hosts=['h1', 'h1'])
    assert fleet['total'] == 2 and fleet['state'] == 'completed'
    assert fleet['counts']['running'] == 0 and fleet['hosts']['h1']['ids'] == ['a', 'b']


def test_removed_jobs_count_with_their_final_state():
    received = dict(job('a', 'completed', has_more_data=False), removed=True)
    fleet = summary({'h1': result(received), 'h2': result(job('b', 'completed'))})
    assert fleet['state'] == 'completed' and fleet['total'] == 2 and fleet['removed'] == 1
    assert fleet['hosts']['h1']['removed'] == 1 and fleet['hosts']['h2']['removed'] == 0


def test_unreachable_and_failed_hosts_are_failed_children_and_skipped_hosts_nothing():
    fleet = summary({
        'h1': result(job('a', 'completed')),
        'h2': {'unreachable': True, 'msg': 'Failed to connect', 'changed': False},
        'h3': {'failed': True, 'msg': 'invalid job id', 'jobs': []},
        'h4': {'skipped': True, 'changed': False},
    })
    assert fleet['state'] == 'failed' and fleet['total'] == 3
    assert fleet['counts'] == {'running': 0, 'completed': 1, 'failed': 2, 'stopped': 0}
    children = {c['host']: c for c in fleet['child_jobs']}
    assert (children['h2']['reason'], children['h2']['error']) == ('unreachable', 'Failed to connect')
    assert (children['h3']['reason'], children['h3']['id']) == ('task_failed', None)
    assert 'h4' not in fleet['hosts']
    # A failed task that did return jobs (a spawn error, a wait timeout) counts its jobs, not an extra child.
    with_jobs = summary({'h1': {'failed': True, 'msg': 'x', 'jobs': [job('a', 'running')]}})
    assert with_jobs['total'] == 1 and with_jobs['state'] == 'running'


def test_no_jobs_at_all():
    empty = summary({'h1': result(), 'h2': result()})
    assert empty['state'] is None and empty['total'] == 0 and empty['has_more_data'] is False
    assert empty['hosts']['h1'] == {'state': None, 'total': 0, 'has_more_data': False, 'ids': [], 'removed': 0,
                                    'counts': {'running': 0, 'completed': 0, 'failed': 0, 'stopped': 0}}


def test_bad_input_is_a_clear_filter_error():
    with pytest.raises(AnsibleFilterError, match=r'expected registered results .* got int'):
        summary(3)
    with pytest.raises(AnsibleFilterError, match=r'item 0 is not a registered task result'):
        summary(['text'])


def test_the_filter_is_exported_as_summary():
    assert FilterModule().filters() == {'summary': summary}
