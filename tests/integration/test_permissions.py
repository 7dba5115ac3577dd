# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Permissions: modes on the target, become to another user, job roots that are not safe to use."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import time
import uuid

import pytest

BECOME_USER = 'rjbecome'
OTHER_USER = 'rjother'


def ensure_user(name, password=None):
    """A local user that may log in with the suite's key (its account unlocked), optionally with a password."""
    if os.geteuid() != 0 or not shutil.which('useradd'):
        pytest.skip('creating test users needs root and useradd')
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(['useradd', '--create-home', '--shell', '/bin/sh', name], check=True)
    # useradd leaves the account locked ('!'), and sshd refuses locked accounts.
    subprocess.run(['usermod', '-p', '*', name], check=True)
    if password:
        subprocess.run(['chpasswd'], input=('%s:%s\n' % (name, password)).encode(), check=True)
    return pwd.getpwnam(name)


def authorize(user, sshd):
    """Let user log in over the suite's sshd with the suite's key."""
    ssh_dir = os.path.join(user.pw_dir, '.ssh')
    os.makedirs(ssh_dir, exist_ok=True)
    keys = os.path.join(ssh_dir, 'authorized_keys')
    shutil.copy(sshd.key + '.pub', keys)
    for path in (ssh_dir, keys):
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(ssh_dir, 0o700)


def test_job_root_and_files_are_private(lab):
    name = 'modes-' + uuid.uuid4().hex[:6]
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'echo x', 'results': 'controller'}},
                    {'name': 'wait', 'remote.jobs.wait': {'name': name}}], hosts='h1')
    assert run.rc == 0, run.output
    job_dir = os.path.join(lab.roots['h1'], run.result('start')['id'])
    assert stat.S_IMODE(os.stat(lab.roots['h1']).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(job_dir).st_mode) == 0o700
    for entry in os.listdir(job_dir):
        assert stat.S_IMODE(os.stat(os.path.join(job_dir, entry)).st_mode) == 0o600, entry


SUDOERS = '/etc/sudoers.d/remote-jobs-tests'


@pytest.fixture
def sudoers():
    yield SUDOERS
    if os.path.exists(SUDOERS):
        os.unlink(SUDOERS)


def allow_sudo(connecting, become):
    """connecting may run anything as become through sudo, with its own password (no NOPASSWD)."""
    if not shutil.which('sudo') or not os.path.isdir(os.path.dirname(SUDOERS)):
        pytest.skip('the sudo become test needs sudo (apt-get install sudo; make test installs it)')
    rule = '%s ALL=(%s) ALL\n' % (connecting.pw_name, become.pw_name)
    with open(SUDOERS + '.tmp', 'w') as handle:
        handle.write(rule)
    os.chmod(SUDOERS + '.tmp', 0o440)
    os.replace(SUDOERS + '.tmp', SUDOERS)


def become_play(sshd, method):
    """(become user, play vars): connect as OTHER_USER, become BECOME_USER with method (su or sudo, with a password),
    each user's job root in its home, the system python3 (the test users cannot run this checkout's venv)."""
    python = shutil.which('python3', path='/usr/bin:/usr/local/bin:/bin')
    if not python:
        pytest.skip('no system python3 for the test users (they cannot run this checkout\'s venv)')
    if not shutil.which('setfacl'):
        pytest.skip('becoming an unprivileged user from an unprivileged one needs setfacl (apt-get install acl)')
    connecting = ensure_user(OTHER_USER, password='rj-other-pass')
    become = ensure_user(BECOME_USER, password='rj-test-pass')
    authorize(connecting, sshd)
    if method == 'sudo':
        allow_sudo(connecting, become)
    return become, {'remote_jobs_root': '~/.ansible_jobs', 'ansible_user': OTHER_USER, 'ansible_python_interpreter': python,
                    'ansible_become': True, 'ansible_become_method': method, 'ansible_become_user': BECOME_USER,
                    'ansible_become_password': {'su': 'rj-test-pass', 'sudo': 'rj-other-pass'}[method]}


# su cannot pipeline, so Ansible runs the modules (AnsiballZ in a temporary folder); sudo pipelines, so the
# action plugins take the direct path. Both must land the job in the become user's job root.
@pytest.mark.usefixtures('sudoers')
@pytest.mark.parametrize('method', ['su', 'sudo'])
def test_become_runs_the_job_as_that_user_in_that_users_job_root(lab, sshd, method):
    # Connect as one unprivileged user, become another (with a password), as a real deployment would.
    become, play_vars = become_play(sshd, method)
    password = play_vars['ansible_become_password']
    python = play_vars['ansible_python_interpreter']
    name = 'become-%s-%s' % (method, uuid.uuid4().hex[:6])
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': name, 'command': 'id -un; echo secret-output'}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name, 'wait': True, 'timeout': 60, 'keep': True}},
    ], hosts='h1', vars=play_vars, extra_args=['-vvv'])
    assert run.rc == 0, run.output
    direct = 'remote.jobs: running start directly' in run.output
    assert direct is (method == 'sudo'), 'su runs the modules, sudo the direct path'
    assert password not in run.output, 'the become password is never shown'
    received = run.result('receive')
    assert received['stdout'] == '%s\nsecret-output\n' % BECOME_USER, 'the job runs as the become user'
    root = os.path.join(become.pw_dir, '.ansible_jobs')
    job_dir = os.path.join(root, received['id'])
    assert received['stdout_path'] == os.path.join(job_dir, 'stdout'), "it lives in that user's job root"
    for path in (root, job_dir, os.path.join(job_dir, 'stdout')):
        assert os.stat(path).st_uid == become.pw_uid, path
    # The connecting user can neither list the job root nor read the output.
    for path in (root, os.path.join(job_dir, 'stdout')):
        probe = subprocess.run(['su', OTHER_USER, '-c', 'cat %s 2>&1 || ls %s 2>&1' % (path, path)],
                               stdout=subprocess.PIPE, check=False)
        assert b'Permission denied' in probe.stdout and b'secret-output' not in probe.stdout
    # Without become, the connecting user's own job root does not hold the job.
    run = lab.play([{'name': 'info', 'remote.jobs.info': {'name': name}}], hosts='h1',
                   vars={'remote_jobs_root': '~/.ansible_jobs', 'ansible_user': OTHER_USER,
                         'ansible_python_interpreter': python})
    assert run.rc == 0, run.output
    assert run.result('info')['jobs'] == []


@pytest.mark.usefixtures('sudoers')
@pytest.mark.parametrize('method', ['su', 'sudo'])
def test_become_fetches_results_controller_output_through_the_module(lab, sshd, method, tmp_path):
    # The login user cannot read the become user's job folder, so fetch_file cannot carry the output: it travels
    # in the receive module's results (8 MiB per call), checked and committed as usual, also as a later piece.
    become, play_vars = become_play(sshd, method)
    go = '/tmp/remote-jobs-go-%s' % uuid.uuid4().hex[:8]
    results_dir = tmp_path / 'results'
    play_vars['remote_jobs_results_dir'] = str(results_dir)
    big = 9 * 1024 * 1024 + 7  # two read calls
    command = "id -un; head -c %d /dev/zero | tr '\\0' x; while [ ! -e %s ]; do sleep 0.05; done; echo tail" % (big, go)
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'command': command, 'results': 'controller'}}],
                   hosts='h1', vars=play_vars)
    assert run.rc == 0, run.output
    job_id = run.result('start')['id']
    stdout = os.path.join(become.pw_dir, '.ansible_jobs', job_id, 'stdout')
    head = ('%s\n' % BECOME_USER).encode() + b'x' * big
    deadline = time.monotonic() + 30
    while os.path.getsize(stdout) < len(head) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        run = lab.play([{'name': 'first', 'remote.jobs.receive': {'id': job_id}}], hosts='h1', vars=play_vars)
        assert run.rc == 0, run.output
        first = run.result('first')
        assert first['fetched_bytes'] == len(head) and first['stdout'].startswith('%s\nxxx' % BECOME_USER)
        assert first['truncated'] and first['state'] == 'running'
        with open(go, 'w'):
            pass
        run = lab.play([{'name': 'rest', 'remote.jobs.receive': {'id': job_id, 'wait': True, 'timeout': 60}}],
                       hosts='h1', vars=play_vars)
        assert run.rc == 0, run.output
    finally:
        if os.path.exists(go):
            os.unlink(go)
    rest = run.result('rest')
    assert (rest['stdout'], rest['fetched_bytes'], rest['state'], rest['has_more_data']) == ('tail\n', 5, 'completed', False)
    copy = results_dir / 'h1' / job_id / 'stdout'
    assert copy.read_bytes() == head + b'tail\n', 'the controller copy holds every byte once, in order'
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert os.path.getsize(stdout) == 0, 'the target let go of what the controller holds'


@pytest.mark.parametrize('problem', ['world-writable', 'foreign-owner'])
def test_unsafe_job_roots_are_refused(lab, tmp_path, problem):
    root = tmp_path / problem
    root.mkdir()
    if problem == 'world-writable':
        root.chmod(0o777)
        expected = 'group- or world-writable'
    else:
        other = ensure_user(OTHER_USER)
        os.chown(str(root), other.pw_uid, other.pw_gid)
        root.chmod(0o700)
        expected = 'is owned by uid %d, not by this user' % other.pw_uid
    run = lab.play([{'name': 'start', 'remote.jobs.start': {'command': 'true', 'job_root': str(root)},
                     'ignore_errors': True},
                    {'name': 'info', 'remote.jobs.info': {'job_root': str(root)}, 'ignore_errors': True}], hosts='h2')
    for task in ('start', 'info'):
        assert run.status(task, 'h2') == 'failed'
        assert expected in run.result(task, 'h2')['msg']
    assert os.listdir(str(root)) == [], 'nothing was created in a refused job root'
