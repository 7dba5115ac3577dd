# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent playbook runs against the same host and job."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import uuid

import pytest

BIN = os.path.dirname(sys.executable)


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def launch(lab, tmp_path, label, tasks, hosts='h1', vars=None):
    """Start ansible-playbook (tmp_path/label.yml) in the background; returns (process, results path)."""
    playbook = str(tmp_path / ('%s.yml' % label))
    results = str(tmp_path / ('%s.json' % label))
    with open(playbook, 'w') as handle:
        json.dump([{'hosts': hosts, 'gather_facts': False, 'vars': vars or {}, 'tasks': tasks}], handle)
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-playbook'), '-i', lab.inventory, playbook],
                            env=lab.env(REMOTE_JOBS_TEST_RESULTS=results), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    return proc, results


def finish(proc, results):
    output = proc.communicate(timeout=600)[0].decode()
    assert proc.returncode == 0, output
    with open(results) as handle:
        return json.load(handle)


def test_two_runs_consuming_one_job_get_every_byte_exactly_once(lab, tmp_path):
    name = 'race-' + uuid.uuid4().hex[:8]
    lines, width, per_receive, loops = 3000, 11, 50, 40
    ready = [str(tmp_path / ('ready%d' % i)) for i in range(2)]
    # Output ("line-00001\n", 11 bytes a line) appears once both consumers are up. Each receive takes at most 50
    # whole lines, and one consumer's 40 receives hold fewer lines than there are, so both must take part.
    command = 'while [ ! -e %s ] || [ ! -e %s ]; do sleep 0.02; done; seq -f "line-%%05g" 1 %d' % (
        ready[0], ready[1], lines)
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': command}}], hosts='h1')
    assert run.rc == 0, run.output
    procs = [launch(lab, tmp_path, 'consumer%d' % i, [
        {'name': 'ready', 'ansible.builtin.file': {'path': ready[i], 'state': 'touch'}},
        {'name': 'consume', 'remote.jobs.receive': {'name': name, 'max_bytes': width * per_receive},
         'loop': list(range(loops))},
    ]) for i in range(2)]
    records = [finish(*p) for p in procs]
    final = lab.play([{'name': 'rest', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 60,
                                                               'max_bytes': 0}}], hosts='h1')
    assert final.rc == 0, final.output
    got, per_consumer, races_lost = [], [], 0
    for recs in records:
        (loop,) = [r['result'] for r in recs if r['task'] == 'consume']
        texts = [item['stdout'] for item in loop['results']]
        assert all(len(t) % width == 0 for t in texts), 'pieces are whole lines'
        per_consumer.append(sum(len(t) for t in texts) // width)
        races_lost += sum(1 for item in loop['results'] if item['received_elsewhere'])
        got.extend(texts)
    got.append(final.result('rest')['stdout'])
    counted = collections.Counter(line for text in got for line in text.split())
    assert set(counted) == {'line-%05d' % i for i in range(1, lines + 1)}, 'every byte delivered'
    assert max(counted.values()) == 1, 'no byte delivered twice: %r' % [k for k, v in counted.items() if v > 1][:5]
    # They really raced: both got lines, or one lost reads to the other (exactly-once is promised, fairness is not).
    assert all(per_consumer) or races_lost, 'no contention: %r' % per_consumer


def test_fifty_jobs_started_at_once_from_parallel_runs(lab, tmp_path):
    prefix = 'par-' + uuid.uuid4().hex[:6]
    procs = []
    for run_no in range(5):
        jobs = [{'name': '%s-%d-%d' % (prefix, run_no, i), 'command': 'echo %d-%d' % (run_no, i)} for i in range(10)]
        procs.append(launch(lab, tmp_path, 'starter%d' % run_no, [{'name': 'start', 'remote.jobs.start': {'jobs': jobs}}]))
    started = [finish(*p) for p in procs]
    ids = [job['id'] for recs in started for r in recs for job in r['result']['jobs']]
    assert len(ids) == 50 and len(set(ids)) == 50
    run = lab.play([
        {'name': 'wait', 'remote.jobs.wait': {'name': ['%s-%d-%d' % (prefix, r, i) for r in range(5) for i in range(10)],
                                              'timeout': 120}},
        {'name': 'receive', 'remote.jobs.receive': {'id': ids}},
        {'name': 'remove', 'remote.jobs.remove': {'name': prefix + '-*'}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    assert [j['state'] for j in run.result('wait')['jobs']] == ['completed'] * 50
    for job in run.result('receive')['jobs']:
        run_no, i = job['name'].split('-')[-2:]
        assert job['stdout'] == '%s-%s\n' % (run_no, i), 'no mixed state: each job has its own output'
    assert len(run.result('remove')['jobs']) == 50


# --- results: controller: two consumers of one job ---------------------------------------------------------------
# The job waits until both consumers are about to wait for it (their ready files), so both wake at its end together
# and describe the same output as pieces before either has committed it: a real race for every byte.

LINES = 400000  # "000000000001\n": 13 bytes a line, 5.2 MB


def _racing_job(lab, tmp_path, host, vars=None, **start):
    name = uniq('pull')
    ready = [str(tmp_path / ('ready-%s-%d' % (name, i))) for i in range(2)]
    command = 'while [ ! -e %s ] || [ ! -e %s ]; do sleep 0.02; done; sleep 1; seq -f "%%012g" 1 %d' % (
        ready[0], ready[1], LINES)
    start = dict(start, name=name, command=command, results='controller')
    run = lab.play([{'name': 'start', 'remote.jobs.start': start}], hosts=host, vars=vars)
    assert run.rc == 0, run.output
    return name, run.result('start', host)['id'], ready


def _whole():
    return ''.join('%012d\n' % i for i in range(1, LINES + 1))


def _results(records, task):
    return {r['host']: r['result'] for r in records if r['task'] == task}


@pytest.mark.parametrize('verb', ['receive', 'wait'])
def test_two_runs_pulling_one_controller_job_into_one_folder(lab, tmp_path, verb):
    """Two runs that fetch the same job into the same folder take turns: one copy, byte-exact, fetched once."""
    results_dir = tmp_path / 'res'
    name, job_id, ready = _racing_job(lab, tmp_path, 'h1', results_dir=str(results_dir))
    args = {'name': name, 'timeout': 60}
    if verb == 'receive':
        args.update(wait=True, max_bytes=16)
    procs = [launch(lab, tmp_path, 'pull%d' % i, [
        {'name': 'ready', 'ansible.builtin.file': {'path': ready[i], 'state': 'touch'}},
        {'name': 'pull', 'remote.jobs.' + verb: args},
    ]) for i in range(2)]
    pulls = [_results(finish(*p), 'pull')['h1'] for p in procs]
    dest = results_dir / 'h1' / job_id
    assert (dest / 'stdout').read_text() == _whole(), 'one byte-exact copy'
    assert sorted(p['fetched_bytes'] for p in pulls) == [0, LINES * 13], 'the output travelled once'
    assert sorted(os.listdir(dest)) == ['.lock', '.received.json', 'job.json', 'stdout'], 'no temporary files left'
    assert os.path.getsize(os.path.join(lab.roots['h1'], job_id, 'stdout')) == 0
    if verb == 'receive':
        first, second = sorted(pulls, key=lambda p: p['fetched_bytes'], reverse=True)
        assert (first['stdout'], first['received_elsewhere']) == (_whole()[:16], False)
        assert (second['stdout'], second['received_elsewhere']) == ('', True), 'the other run brought it here'


@pytest.mark.parametrize('layout', ['two playbook folders', 'two hosts sharing a job root'])
def test_two_consumers_of_one_controller_job_in_different_folders_get_it_once(lab, tmp_path, layout):
    """Each byte ends up in exactly one controller folder: the consumer the target did not give it to keeps nothing
    of it, returns no text and says received_elsewhere."""
    receive = {'name': 'pull', 'remote.jobs.receive': {'name': None, 'wait': True, 'timeout': 60, 'max_bytes': 0}}
    if layout == 'two playbook folders':
        # No results_dir: each run fetches into job_results/ beside its own playbook.
        name, job_id, ready = _racing_job(lab, tmp_path, 'h2')
        receive['remote.jobs.receive']['name'] = name
        folders = [tmp_path / ('pb%d' % i) for i in range(2)]
        procs = []
        for i, folder in enumerate(folders):
            folder.mkdir()
            procs.append(launch(lab, folder, 'consumer', [
                {'name': 'ready', 'ansible.builtin.file': {'path': ready[i], 'state': 'touch'}}, receive], hosts='h2'))
        pulls = [_results(finish(*p), 'pull')['h2'] for p in procs]
        dests = [folder / 'job_results' / 'h2' / job_id for folder in folders]
    else:
        # h1 and h2 see one job root, so one job, fetched into results_dir/h1/<id> and results_dir/h2/<id>.
        shared = {'remote_jobs_root': str(tmp_path / 'shared-root')}
        results_dir = tmp_path / 'res'
        name, job_id, ready = _racing_job(lab, tmp_path, 'h1', vars=shared, results_dir=str(results_dir))
        receive['remote.jobs.receive']['name'] = name
        proc = launch(lab, tmp_path, 'consumers', [
            {'name': 'ready', 'ansible.builtin.file': {'path': '{{ ready[inventory_hostname] }}', 'state': 'touch'}},
            receive], hosts='h1,h2', vars=dict(shared, ready={'h1': ready[0], 'h2': ready[1]}))
        found = _results(finish(*proc), 'pull')
        pulls = [found['h1'], found['h2']]
        dests = [results_dir / 'h1' / job_id, results_dir / 'h2' / job_id]
    whole = _whole()
    winner = [i for i, p in enumerate(pulls) if not p['received_elsewhere']]
    assert len(winner) == 1, 'exactly one consumer gets the output: %r' % [
        (p['received_elsewhere'], p['fetched_bytes']) for p in pulls]
    won, lost = pulls[winner[0]], pulls[1 - winner[0]]
    assert (won['stdout'], won['fetched_bytes']) == (whole, len(whole))
    assert (lost['stdout'], lost['stdout_lines'], lost['fetched_bytes']) == ('', [], 0)
    assert (dests[winner[0]] / 'stdout').read_text() == whole
    assert not (dests[1 - winner[0]] / 'stdout').exists(), 'the other copy took back what it had appended'
    assert won['has_more_data'] is False and lost['has_more_data'] is False


def test_two_runs_consuming_a_running_controller_job_into_one_folder(lab, tmp_path):
    """Receives of a job that is still printing, from two runs into one folder: none fails (a plan of the other run
    may rebuild the job's pieces while this one fetches), the copy is exact, the task texts add up to it once."""
    name = uniq('run1f')
    results_dir = tmp_path / 'res'
    ready = [str(tmp_path / ('ready%d' % i)) for i in range(2)]
    command = ('while [ ! -e %s ] || [ ! -e %s ]; do sleep 0.02; done; i=0; while [ $i -lt 200 ]; do '
               'seq -f "r$i-%%06g" 1 100; i=$((i+1)); sleep 0.01; done' % (ready[0], ready[1]))
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': command, 'results': 'controller',
                                                            'results_dir': str(results_dir)}}], hosts='h3')
    assert run.rc == 0, run.output
    job_id = run.result('start', 'h3')['id']
    procs = [launch(lab, tmp_path, 'same%d' % i, [
        {'name': 'ready', 'ansible.builtin.file': {'path': ready[i], 'state': 'touch'}},
        {'name': 'consume', 'remote.jobs.receive': {'name': name, 'max_bytes': 0}, 'loop': list(range(20))},
    ], hosts='h3') for i in range(2)]
    texts = [item['stdout'] for p in procs for item in _results(finish(*p), 'consume')['h3']['results']]
    final = lab.play([{'name': 'rest', 'remote.jobs.receive': {'name': name, 'max_bytes': 0, 'wait': True,
                                                               'timeout': 60}}], hosts='h3')
    assert final.rc == 0, final.output
    texts.append(final.result('rest', 'h3')['stdout'])
    expected = ['r%d-%06d' % (i, j) for i in range(200) for j in range(1, 101)]
    assert (results_dir / 'h3' / job_id / 'stdout').read_text() == ''.join(line + '\n' for line in expected)
    counted = collections.Counter(line for text in texts for line in text.splitlines())
    assert sorted(counted) == sorted(expected) and max(counted.values()) == 1, 'every line returned once'
