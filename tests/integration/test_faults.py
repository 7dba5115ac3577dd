# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SSH connection cut (sshd and all its sessions killed) while verbs run: jobs survive, the next call works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from ansible_collections.remote.jobs.plugins.module_utils._jobstore import descendants, proc_alive

BIN = os.path.dirname(sys.executable)


def background(lab, tmp_path, tasks, hosts='h1'):
    playbook = str(tmp_path / ('bg-%s.yml' % uuid.uuid4().hex[:6]))
    with open(playbook, 'w') as handle:
        json.dump([{'hosts': hosts, 'gather_facts': False, 'tasks': tasks}], handle)
    return subprocess.Popen([os.path.join(BIN, 'ansible-playbook'), '-i', lab.inventory, playbook], env=lab.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def module_running(sshd, python):
    """True while a module process (the target python) runs in one of sshd's sessions."""
    for pid in descendants(sshd.proc.pid):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                if python.encode() in handle.read():
                    return True
        except OSError:
            pass
    return False


def cut_when(sshd, proc, condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, 'the moment to cut never came'
        time.sleep(0.005)
    sshd.crash()
    output = proc.communicate(timeout=120)[0].decode()
    sshd.start()
    return output


def test_connection_cut_during_wait(lab, sshd, tmp_path):
    name = 'cutwait-' + uuid.uuid4().hex[:6]
    go = str(tmp_path / 'go')
    run = lab.play([{'name': 'start', 'remote.jobs.start': {
        'name': name, 'command': 'echo before; while [ ! -e %s ]; do sleep 0.05; done; echo after' % go}}])
    assert run.rc == 0, run.output
    ids = {host: run.result('start', host)['id'] for host in ('h1', 'h2', 'h3')}
    proc = background(lab, tmp_path, [{'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 120}}], hosts='all')
    output = cut_when(sshd, proc, lambda: module_running(sshd, lab.python))
    assert proc.returncode != 0, output
    for host, job_id in ids.items():
        state = lab.read_state(host, job_id)
        assert state['state'] == 'running' and proc_alive(state['supervisor_pid'], state['supervisor_start_time']), \
            'the job keeps running when the connection drops'
    with open(go, 'w'):
        pass
    run = lab.play([
        {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 60}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name, 'auto_remove': True}},
    ])
    assert run.rc == 0, run.output
    for host in ids:
        assert run.result('wait', host)['state'] == 'completed'
        assert run.result('receive', host)['stdout'] == 'before\nafter\n', 'nothing is lost'


def test_connection_cut_during_a_batch_start(lab, sshd, tmp_path):
    prefix = 'cutstart-' + uuid.uuid4().hex[:6]
    root = lab.roots['h2']
    jobs = [{'name': '%s-%d' % (prefix, i), 'command': 'sleep 3; echo %d' % i} for i in range(60)]
    before = set(lab.job_dirs('h2'))  # other tests' jobs share this root
    proc = background(lab, tmp_path, [{'name': 'start', 'remote.jobs.start': {'jobs': jobs}}], hosts='h2')

    def some_started():
        return os.path.isdir(root) and sum(1 for e in os.listdir(root) if not e.startswith('.') and e not in before) >= 3

    cut_when(sshd, proc, some_started)
    run = lab.play([
        {'name': 'info', 'remote.jobs.info': {'name': prefix + '-*'}, 'register': 'info'},
        {'name': 'wait', 'remote.jobs.wait': {'id': "{{ info.jobs | map(attribute='id') }}", 'timeout': 60}},
        {'name': 'receive', 'remote.jobs.receive': {'id': "{{ info.jobs | map(attribute='id') }}"}},
    ], hosts='h2')
    assert run.rc == 0, run.output
    started = run.result('info', 'h2')['jobs']
    assert 3 <= len(started) <= 60
    for job in started:
        assert job['state'] in ('running', 'completed'), 'a job started before the cut is not lost: %r' % job
    assert [j['state'] for j in run.result('wait', 'h2')['jobs']] == ['completed'] * len(started)
    for job in run.result('receive', 'h2')['jobs']:
        assert job['stdout'] == '%s\n' % job['name'].rsplit('-', 1)[1], 'each job kept its own output'
    visible = set(lab.job_dirs('h2')) - before
    assert {j['id'] for j in started} == {e for e in visible if not e.startswith('.')}, 'no half-made job is listed'


def test_connection_cut_during_a_receive_loses_nothing(lab, sshd, tmp_path):
    name = 'cutrecv-' + uuid.uuid4().hex[:6]
    lines = 200000  # about 2.5 MiB of text: the module is busy reading and sending it when the cut comes
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'seq -f "row-%%07g" 1 %d' % lines}},
                    {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 60}}], hosts='h3')
    assert run.rc == 0, run.output
    job_id = run.result('start', 'h3')['id']
    offsets = os.path.join(lab.roots['h3'], job_id, 'offsets.json')
    proc = background(lab, tmp_path, [{'name': 'receive', 'remote.jobs.receive': {'name': name, 'max_bytes': 0}}],
                      hosts='h3')
    output = cut_when(sshd, proc, lambda: module_running(sshd, lab.python))
    assert proc.returncode != 0, output
    with open(offsets) as handle:
        assert json.load(handle) == {'stdout': 0, 'stderr': 0}, 'output the controller never got is not consumed'
    run = lab.play([{'name': 'receive', 'remote.jobs.receive': {'name': name, 'max_bytes': 0}}], hosts='h3')
    assert run.rc == 0, run.output
    received = run.result('receive', 'h3')
    assert received['stdout'] == ''.join('row-%07d\n' % i for i in range(1, lines + 1)), 'nothing is lost'
    assert received['has_more_data'] is False
