# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration fixtures: one real OpenSSH sshd on loopback for the whole session, serving three inventory
hosts (127.0.0.1, 127.0.0.2, 127.0.0.3), each with its own job root, and a runner for ansible-playbook."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')

HOSTS = {'h1': '127.0.0.1', 'h2': '127.0.0.2', 'h3': '127.0.0.3'}
SSHD_CANDIDATES = ('/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd')
BIN = os.path.dirname(sys.executable)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Sshd:
    """A private sshd: its own host key, authorized key, config and port."""

    def __init__(self, base):
        self.base = base
        self.port = _free_port()
        self.user = getpass.getuser()
        self.key = os.path.join(base, 'client_key')
        self.proc = None
        self.binary = next((p for p in SSHD_CANDIDATES if os.path.exists(p)), shutil.which('sshd'))
        if not self.binary:
            pytest.exit('sshd not found: run `make test` (it installs openssh-server) or apt-get install openssh-server', 2)
        for name in ('host_key', 'client_key'):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', os.path.join(base, name)], check=True)
        shutil.copy(self.key + '.pub', os.path.join(base, 'authorized_keys'))
        self.config = os.path.join(base, 'sshd_config')
        with open(self.config, 'w') as handle:
            handle.write('\n'.join([
                'Port %d' % self.port,
                *('ListenAddress %s' % addr for addr in HOSTS.values()),
                'HostKey %s' % os.path.join(base, 'host_key'),
                # The suite's own key file, and users' own files (for tests that connect as another user).
                'AuthorizedKeysFile %s .ssh/authorized_keys' % os.path.join(base, 'authorized_keys'),
                'PidFile %s' % os.path.join(base, 'sshd.pid'),
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'PubkeyAuthentication yes',
                'PermitRootLogin prohibit-password',
                'StrictModes no',
                'UsePAM no',
                'MaxSessions 100',
                'MaxStartups 100:30:200',
                'Subsystem sftp internal-sftp',
                'LogLevel INFO',
                '',
            ]))
        if os.geteuid() == 0:
            os.makedirs('/run/sshd', mode=0o755, exist_ok=True)

    def start(self):
        self.proc = subprocess.Popen([self.binary, '-D', '-e', '-f', self.config],
                                     stdout=open(os.path.join(self.base, 'sshd.log'), 'ab'), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('sshd exited: %s' % open(os.path.join(self.base, 'sshd.log')).read())
            try:
                socket.create_connection((HOSTS['h3'], self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError('sshd did not listen on port %d' % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def crash(self):
        """SIGKILL the listener and every sshd session process at once, as a dropped connection or a crashed
        sshd would. The processes the sessions started are not killed: nothing kills them in either case."""
        from ansible_collections.remote.jobs.plugins.module_utils._jobstore import descendants

        def sshd_processes():
            found = set()
            for pid in descendants(self.proc.pid):
                try:
                    with open('/proc/%d/comm' % pid) as handle:
                        if handle.read().strip() in ('sshd', 'sshd-session'):
                            found.add(pid)
                except OSError:
                    pass
            return found

        # Stop first, kill after: a stopped process forks no new session, so a session being set up at this very
        # moment cannot slip through (it would, between a listing and a kill, and keep its connection alive).
        victims = {self.proc.pid}
        os.kill(self.proc.pid, signal.SIGSTOP)
        while True:
            new = sshd_processes() - victims
            if not new:
                break
            for pid in new:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except OSError:
                    pass
            victims |= new
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait(10)


@pytest.fixture(scope='session')
def sshd(tmp_path_factory):
    server = Sshd(str(tmp_path_factory.mktemp('sshd')))
    server.start()
    yield server
    server.stop()


class Lab:
    """Three inventory hosts behind one sshd, and a way to run playbooks against them."""

    def __init__(self, sshd, base, python=None):
        self.sshd = sshd
        self.base = base
        self.python = python or sys.executable
        self.roots = {host: os.path.join(base, 'roots', host) for host in HOSTS}
        self.control_dir = os.path.join(base, 'cp')
        os.makedirs(self.control_dir, mode=0o700, exist_ok=True)
        self.inventory = os.path.join(base, 'inventory.yml')
        hosts = {}
        for host, addr in HOSTS.items():
            hosts[host] = {
                'ansible_host': addr,
                'ansible_port': sshd.port,
                'ansible_user': sshd.user,
                'remote_jobs_root': self.roots[host],
            }
        inventory = {'all': {
            'vars': {
                'ansible_connection': 'ssh',
                'ansible_ssh_private_key_file': sshd.key,
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes',
                'ansible_python_interpreter': self.python,
            },
            'hosts': hosts,
        }}
        with open(self.inventory, 'w') as handle:
            yaml.safe_dump(inventory, handle)
        self.runs = 0

    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(ROOT, 'tests', 'integration', 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'jsonresults',
            'ANSIBLE_PIPELINING': 'True',
            'ANSIBLE_HOST_KEY_CHECKING': 'False',
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORKS': '10',
            'ANSIBLE_LOCAL_TEMP': os.path.join(self.base, 'ansible-local'),
            'ANSIBLE_SSH_CONTROL_PATH_DIR': self.control_dir,
            'PATH': BIN + os.pathsep + env.get('PATH', ''),
        })
        env.update(extra)
        return env

    def play(self, tasks, hosts='all', vars=None, check=False, extra_args=(), env=None, gather_facts=False):
        """Run one play of tasks. Returns a Run with the JSON results, rc and the full text output."""
        self.runs += 1
        run_dir = os.path.join(self.base, 'run%03d' % self.runs)
        os.makedirs(run_dir)
        playbook = os.path.join(run_dir, 'play.yml')
        with open(playbook, 'w') as handle:
            yaml.safe_dump([{'hosts': hosts, 'gather_facts': gather_facts, 'vars': vars or {}, 'tasks': tasks}], handle,
                           sort_keys=False)
        results = os.path.join(run_dir, 'results.json')
        cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', self.inventory, playbook] + list(extra_args)
        if check:
            cmd.append('--check')
        proc = subprocess.run(cmd, env=self.env(REMOTE_JOBS_TEST_RESULTS=results, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, cwd=run_dir, check=False)
        records = []
        if os.path.exists(results):
            with open(results) as handle:
                records = json.load(handle)
        return Run(proc.returncode, proc.stdout.decode('utf-8', 'replace'), records, run_dir)

    def job_dirs(self, host):
        """Everything in the host's job root but the direct path's compiled-code cache (.code, not a job)."""
        root = self.roots[host]
        if not os.path.isdir(root):
            return []
        return sorted(entry for entry in os.listdir(root) if entry != '.code')

    def read_state(self, host, job_id):
        with open(os.path.join(self.roots[host], job_id, 'state.json')) as handle:
            return json.load(handle)


class Run:
    def __init__(self, rc, output, records, run_dir):
        self.rc = rc
        self.output = output
        self.records = records
        self.run_dir = run_dir

    def results(self, task):
        """{host: result} of the task with this name."""
        found = {r['host']: r['result'] for r in self.records if r['task'] == task}
        assert found, 'task %r has no results; output:\n%s' % (task, self.output)
        return found

    def result(self, task, host='h1'):
        return self.results(task)[host]

    def status(self, task, host='h1'):
        return [r['status'] for r in self.records if r['task'] == task and r['host'] == host][-1]


@pytest.fixture(scope='session')
def lab(sshd, tmp_path_factory):
    return Lab(sshd, str(tmp_path_factory.mktemp('lab')))
