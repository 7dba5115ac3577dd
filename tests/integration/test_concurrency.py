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

BIN = os.path.dirname(sys.executable)


def launch(lab, tmp_path, label, tasks, hosts='h1'):
    """Start ansible-playbook in the background; returns (process, results path)."""
    playbook = str(tmp_path / ('%s.yml' % label))
    results = str(tmp_path / ('%s.json' % label))
    with open(playbook, 'w') as handle:
        json.dump([{'hosts': hosts, 'gather_facts': False, 'tasks': tasks}], handle)
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
