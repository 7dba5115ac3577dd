# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""results: target / controller over the real sshd."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.integration.test_verbs import phased_command

ALL = ('h1', 'h2', 'h3')


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def wait_ended(lab, host, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while lab.read_state(host, job_id)['state'] == 'running':
        assert time.monotonic() < deadline, 'job %s did not end' % job_id
        time.sleep(0.05)


def test_results_target_with_output_path(lab, tmp_path):
    name = uniq('tgt')
    log = str(tmp_path / ('%s-{{ inventory_hostname }}.log' % name))
    results_dir = tmp_path / 'controller'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'echo to-the-log; echo err >&2',
                                                'output_path': log, 'results_dir': str(results_dir)}},
        {'name': 'peek', 'remote.jobs.receive': {'name': name, 'wait': True, 'keep': True, 'timeout': 30}},
        {'name': 'consume', 'remote.jobs.receive': {'name': name}},
        {'name': 'after', 'remote.jobs.info': {'name': name}},
    ])
    assert run.rc == 0, run.output
    for host in ALL:
        host_log = log.replace('{{ inventory_hostname }}', host)
        with open(host_log) as handle:
            assert handle.read() == 'to-the-log\n'
        start = run.result('start', host)
        assert start['stdout_path'] == host_log and 'dest' not in start
        assert run.result('peek', host)['stdout'] == 'to-the-log\n'
        consume = run.result('consume', host)
        assert consume['stdout'] == 'to-the-log\n' and consume['stderr'] == 'err\n'
        assert run.result('after', host)['has_more_data'] is False
        with open(host_log) as handle:
            assert handle.read() == 'to-the-log\n', 'target placement keeps the file after a receive'
    assert not results_dir.exists(), 'nothing leaves the target with results: target'


def test_results_controller_incremental_fetch_and_drop(lab, tmp_path):
    name = uniq('ctl')
    results_dir = tmp_path / 'fetched'
    markers = str(tmp_path)
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {
            'name': name, 'results': 'controller', 'results_dir': str(results_dir),
            'command': phased_command(markers, phases=2, stderr=True)}, 'register': 'started'},
        {'name': 'printed 0', 'ansible.builtin.wait_for': {'path': '{{ started.stdout_path }}', 'search_regex': 'line 10\n', 'timeout': 60}},
        {'name': 'r1', 'remote.jobs.receive': {'name': name}},
        {'name': 'go 1', 'ansible.builtin.file': {'path': markers + '/go1', 'state': 'touch'}},
        {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 30}},
        {'name': 'r2', 'remote.jobs.receive': {'name': name}},
        {'name': 'info', 'remote.jobs.info': {'name': name}},
    ], hosts='h1,h2', extra_args=['-vvv'])
    assert run.rc == 0, run.output
    # The wait that saw the jobs end described their output itself: per host one wait call and one commit,
    # no separate receive call to describe the pieces first.
    wait_section = run.output.split('TASK [wait]', 1)[1].split('TASK [r2]', 1)[0]
    assert wait_section.count('remote.jobs: running wait directly') == 2, wait_section
    assert wait_section.count('remote.jobs: running receive directly') == 2, wait_section
    whole_out = ''.join('line %d\n' % i for i in range(1, 21))
    whole_err = ''.join('err %d\n' % i for i in range(1, 21))
    for host in ('h1', 'h2'):
        job_id = run.result('start', host)['id']
        dest = results_dir / host / job_id
        r1 = run.result('r1', host)
        assert r1['state'] == 'running' and r1['dest'] == str(dest)
        assert r1['stdout'] == ''.join('line %d\n' % i for i in range(1, 11))
        assert r1['fetched_bytes'] == len(r1['stdout']) + len(r1['stderr'])
        waited = run.result('wait', host)
        assert waited['state'] == 'completed' and waited['has_more_data'] is False, 'wait pulled the rest'
        assert 'pieces' not in waited and all('pieces' not in job for job in waited['jobs'])
        assert waited['fetched_bytes'] == len(whole_out) + len(whole_err) - r1['fetched_bytes']
        assert run.result('r2', host)['fetched_bytes'] == 0, 'only bytes not fetched before travel'
        assert (dest / 'stdout').read_text() == whole_out
        assert (dest / 'stderr').read_text() == whole_err
        record = json.loads((dest / 'job.json').read_text())
        assert record['state'] == 'completed' and record['rc'] == 0 and record['id'] == job_id
        info = run.result('info', host)
        assert info['dest'] == str(dest) and info['has_more_data'] is False
        target = os.path.join(lab.roots[host], job_id)
        assert os.path.getsize(os.path.join(target, 'stdout')) == 0, 'the target copy is dropped once fetched'
        assert os.path.getsize(os.path.join(target, 'stderr')) == 0


def test_a_later_piece_on_a_nearly_full_file_system_is_read_through_the_module(lab, tmp_path):
    # On a job root with no room for a piece's copy, the target plans it without one and the controller reads it
    # through the receive module: the copy is still exact and the target drops it.
    small = tmp_path / 'small'
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', str(small)],
                                           check=False, stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip('this test mounts a small tmpfs (needs root and a machine that allows it)')
    try:
        name = uniq('full')
        results_dir = tmp_path / 'fetched'
        markers = str(tmp_path)
        run = lab.play([
            {'name': 'start', 'remote.jobs.start': {
                'name': name, 'results': 'controller', 'results_dir': str(results_dir),
                'command': phased_command(markers, phases=2)}, 'register': 'started'},
            {'name': 'printed 0', 'ansible.builtin.wait_for': {'path': '{{ started.stdout_path }}',
                                                               'search_regex': 'line 10\n', 'timeout': 60}},
            {'name': 'r1', 'remote.jobs.receive': {'name': name}},
            {'name': 'go 1', 'ansible.builtin.file': {'path': markers + '/go1', 'state': 'touch'}},
            {'name': 'r2', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}},
        ], hosts='h1', vars={'remote_jobs_root': str(small / 'root')}, extra_args=['-vvv'])
        assert run.rc == 0, run.output
        r2 = run.result('r2')
        assert r2['stdout'] == ''.join('line %d\n' % i for i in range(11, 21)) and r2['has_more_data'] is False
        r2_section = run.output.split('TASK [r2]', 1)[1]
        assert r2_section.count('remote.jobs: running receive directly') == 3, 'plan, one read, commit'
        dest = results_dir / 'h1' / r2['id']
        assert (dest / 'stdout').read_text() == ''.join('line %d\n' % i for i in range(1, 21))
        assert os.path.getsize(os.path.join(str(small / 'root'), r2['id'], 'stdout')) == 0
    finally:
        subprocess.run(['umount', '-l', str(small)], check=False)


def test_results_dir_variable_and_default(lab, tmp_path):
    name = uniq('dirs')
    run = lab.play([
        {'name': 'default', 'remote.jobs.start': {'name': name, 'results': 'controller', 'command': 'echo a'}},
        {'name': 'by var', 'remote.jobs.start': {'name': name + '-v', 'results': 'controller', 'command': 'echo b'},
         'vars': {'remote_jobs_results_dir': str(tmp_path / 'from-var')}},
        {'name': 'receive', 'remote.jobs.receive': {'name': [name, name + '-v'], 'wait': True, 'timeout': 30},
         'vars': {'remote_jobs_results_dir': str(tmp_path / 'from-var')}},
        {'name': 'receive default', 'remote.jobs.receive': {'name': name}},
    ], hosts='h3')
    assert run.rc == 0, run.output
    by_name = {j['name']: j for j in run.result('receive', 'h3')['jobs']}
    assert by_name[name + '-v']['dest'] == str(tmp_path / 'from-var' / 'h3' / by_name[name + '-v']['id'])
    assert (tmp_path / 'from-var' / 'h3' / by_name[name + '-v']['id'] / 'stdout').read_text() == 'b\n'
    # No results_dir anywhere: job_results/ beside the playbook.
    default_dest = os.path.join(run.run_dir, 'job_results', 'h3', run.result('default', 'h3')['id'])
    assert run.result('default', 'h3')['dest'] == default_dest


def test_fifty_mib_of_binary_output_arrives_byte_exact(lab, tmp_path):
    name = uniq('big')
    results_dir = tmp_path / 'big'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'results': 'controller', 'results_dir': str(results_dir),
                                                'command': 'head -c 52428800 /dev/urandom'}},
    ], hosts='h2')
    assert run.rc == 0, run.output
    job_id = run.result('start', 'h2')['id']
    wait_ended(lab, 'h2', job_id)
    target_sha = sha256_file(os.path.join(lab.roots['h2'], job_id, 'stdout'))
    run = lab.play([{'name': 'receive', 'remote.jobs.receive': {'name': name, 'max_bytes': 1024}}], hosts='h2')
    assert run.rc == 0, run.output
    received = run.result('receive', 'h2')
    assert received['fetched_bytes'] == 52428800 and received['truncated'] is True
    assert len(received['stdout'].encode('utf-8', 'surrogateescape')) <= 3 * 1024, 'task text bounded by max_bytes'
    assert len(json.dumps(run.records)) < 200000, 'the bytes travelled by fetch_file, not inside the JSON'
    assert sha256_file(str(results_dir / 'h2' / job_id / 'stdout')) == target_sha


def test_receive_interrupted_midway_resumes_exactly(lab, sshd, tmp_path):
    name = uniq('cut')
    results_dir = tmp_path / 'cut'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'results': 'controller', 'results_dir': str(results_dir),
                                                'command': 'head -c 209715200 /dev/urandom'}},
    ], hosts='h1')
    assert run.rc == 0, run.output
    job_id = run.result('start', 'h1')['id']
    target = os.path.join(lab.roots['h1'], job_id)
    wait_ended(lab, 'h1', job_id)
    target_sha = sha256_file(os.path.join(target, 'stdout'))
    dest = results_dir / 'h1' / job_id
    incoming = dest / '.incoming-stdout-0'

    # Start a receive in the background and cut the SSH server while the bytes are on the wire.
    playbook = os.path.join(str(tmp_path), 'receive.yml')
    with open(playbook, 'w') as handle:
        json.dump([{'hosts': 'h1', 'gather_facts': False,
                    'tasks': [{'name': 'receive', 'remote.jobs.receive': {'name': name}}]}], handle)
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', lab.inventory,
                             playbook], env=lab.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (incoming.exists() and incoming.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, 'the transfer never started'
        time.sleep(0.002)
    sshd.crash()
    output = proc.communicate(timeout=120)[0].decode()
    sshd.start()
    assert proc.returncode != 0, 'the cut receive must fail: %s' % output
    with open(os.path.join(target, 'offsets.json')) as handle:
        assert json.load(handle)['stdout'] == 0, 'nothing was committed'
    assert sha256_file(os.path.join(target, 'stdout')) == target_sha, 'the target copy is intact'
    assert not incoming.exists()

    run = lab.play([{'name': 'receive', 'remote.jobs.receive': {'name': name, 'max_bytes': 16}}], hosts='h1')
    assert run.rc == 0, run.output
    assert run.result('receive', 'h1')['fetched_bytes'] == 209715200
    assert (dest / 'stdout').stat().st_size == 209715200
    assert sha256_file(str(dest / 'stdout')) == target_sha, 'resumed with nothing lost or duplicated'
    assert os.path.getsize(os.path.join(target, 'stdout')) == 0


def test_an_unusable_results_dir_fails_with_a_message_and_loses_nothing(lab, tmp_path):
    name = uniq('baddir')
    blocker = tmp_path / 'blocker'
    blocker.write_text('a file where results_dir wants a folder\n')
    results_dir = blocker / 'res'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'results': 'controller', 'results_dir': str(results_dir),
                                                'command': 'echo kept; echo also >&2'}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}, 'ignore_errors': True},
    ], hosts='h3')
    job_id = run.result('start', 'h3')['id']
    failed = run.result('receive', 'h3')
    assert run.status('receive', 'h3') == 'failed'
    assert failed['msg'].startswith('cannot write the controller copy of job %s under results_dir %s: ' % (
        job_id, results_dir)), failed['msg']
    assert 'Not a directory' in failed['msg'] and 'Point results_dir' in failed['msg'] and '\n' not in failed['msg']
    target = os.path.join(lab.roots['h3'], job_id)
    with open(os.path.join(target, 'offsets.json')) as handle:
        assert json.load(handle) == {'stdout': 0, 'stderr': 0}, 'nothing was committed'
    with open(os.path.join(target, 'stdout')) as handle:
        assert handle.read() == 'kept\n', 'the target copy is intact'

    blocker.unlink()
    run = lab.play([{'name': 'receive', 'remote.jobs.receive': {'name': name}}], hosts='h3')
    assert run.rc == 0, run.output
    assert (run.result('receive', 'h3')['stdout'], run.result('receive', 'h3')['stderr']) == ('kept\n', 'also\n')
    assert (results_dir / 'h3' / job_id / 'stdout').read_text() == 'kept\n'


def test_check_mode_writes_nothing_on_the_controller(lab, tmp_path):
    name = uniq('check')
    results_dir = tmp_path / 'res'
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'results': 'controller', 'results_dir': str(results_dir),
                                                'command': 'echo out'}},
        {'name': 'wait', 'remote.jobs.wait': {'name': name, 'timeout': 30}, 'check_mode': True},
        {'name': 'receive', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}, 'check_mode': True},
    ], hosts='h1')
    assert run.rc == 0, run.output
    assert run.result('receive')['state'] == 'completed' and run.result('receive')['has_more_data'] is True
    assert run.result('receive')['stdout'] == 'out\n', 'check mode behaves as keep: true and shows the output'
    assert not results_dir.exists(), 'check mode wrote on the controller: %r' % [
        os.path.join(folder, f) for folder, _dirs, files in os.walk(str(results_dir)) for f in files]
    run = lab.play([{'name': 'receive', 'remote.jobs.receive': {'name': name}}], hosts='h1')
    assert run.rc == 0, run.output
    assert run.result('receive')['stdout'] == 'out\n'


def test_a_single_job_result_holds_no_internal_fields(lab, tmp_path):
    name = uniq('top')
    run = lab.play([
        {'name': 'controller', 'remote.jobs.start': {'name': name, 'results': 'controller',
                                                     'results_dir': str(tmp_path / 'res'), 'command': 'echo c'}},
        {'name': 'target', 'remote.jobs.start': {'name': name + '-t', 'command': 'echo t'}},
        {'name': 'receive controller', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 30}},
        {'name': 'receive target', 'remote.jobs.receive': {'name': name + '-t', 'wait': True, 'timeout': 30}},
    ], hosts='h2')
    assert run.rc == 0, run.output
    for task, text in (('receive controller', 'c\n'), ('receive target', 't\n')):
        received = run.result(task, 'h2')
        assert received['stdout'] == text
        for result in [received] + received['jobs']:
            assert not {'pieces', 'ranges', 'committed'} & set(result), (task, sorted(result))
