# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark harness: one private OpenSSH sshd listening on N loopback addresses (127.0.0.1 .. 127.0.0.N), and a
runner that writes a playbook + inventory, runs ansible-playbook, and returns wall time, CPU split and the events
recorded by bench/callback_plugins/benchtimes.py.

This is a small equivalent of tests/integration/conftest.py's Sshd/Lab (which serve three fixed hosts), kept
here so the benchmark does not depend on pytest fixtures and can serve up to 25 hosts.
"""

from __future__ import annotations

import getpass
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import yaml

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'remote', 'jobs')
BIN = os.path.dirname(sys.executable)
SSHD_CANDIDATES = ('/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd')
CLK_TCK = os.sysconf('SC_CLK_TCK')
MAX_LISTEN = 16
SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
            '-o', 'LogLevel=ERROR']


def ensure_collection_link():
    """Expose the repository root as ansible_collections/remote/jobs (what tests/conftest.py and make do)."""
    if not os.path.exists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)


def address(i):
    """Inventory host i (1-based) -> its loopback address."""
    return '127.0.0.%d' % i


def host_name(i):
    return 'h%02d' % i


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _proc_cpu(pid, children=True):
    """utime+stime (+ cutime+cstime of reaped children) of a process, in seconds."""
    with open('/proc/%d/stat' % pid, 'rb') as handle:
        data = handle.read()
    fields = data[data.rindex(b')') + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def machine_busy():
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat): user nice system irq softirq steal."""
    with open('/proc/stat') as handle:
        fields = handle.readline().split()[1:]
    ticks = [int(v) for v in fields]
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + (ticks[7] if len(ticks) > 7 else 0)) / CLK_TCK


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open('/proc/%d/stat' % pid, 'rb') as handle:
                data = handle.read()
        except OSError:
            break
        pid = int(data[data.rindex(b')') + 2:].split()[1])
    return pids


def foreign_processes():
    """Test suites and playbooks running on this machine that are not ours (nor our ancestors, e.g. the pytest
    that runs `bench/run.py --quick`): a sign that the timings are shared with other work."""
    mine = _ancestors()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                argv = [a.decode('utf-8', 'replace') for a in handle.read().split(b'\0') if a]
        except OSError:
            continue
        head = [os.path.basename(a) for a in argv[:3]]
        if 'pytest' in head or 'ansible-playbook' in head or ('-m' in head and 'pytest' in argv[:4]):
            found.append(int(entry))
    return found


def _children_of(pid):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as handle:
                data = handle.read()
        except OSError:
            continue
        if int(data[data.rindex(b')') + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


def _stop_group(proc):
    for signum, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, signum)
        except OSError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


class Sshd:
    """A private sshd on one port, listening on 127.0.0.1 .. 127.0.0.<hosts>."""

    def __init__(self, base, hosts, clean_home=False):
        self.base = base
        self.hosts = hosts
        self.port = _free_port()
        self.user = getpass.getuser()
        self.key = os.path.join(base, 'client_key')
        self.binary = next((p for p in SSHD_CANDIDATES if os.path.exists(p)), shutil.which('sshd'))
        if not self.binary:
            raise SystemExit('sshd not found: apt-get install openssh-server (make test installs it)')
        for name in ('host_key', 'client_key'):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', os.path.join(base, name)], check=True)
        shutil.copy(self.key + '.pub', os.path.join(base, 'authorized_keys'))
        # clean_home: the SSH sessions get HOME=<base>/home, an empty folder, so the shell start-up files of the
        # account running the bench (Debian's bash reads ~/.bashrc for every command sshd runs) do not stand in
        # for a target's. Both ways get the same sessions.
        self.clean_home = os.path.join(base, 'home') if clean_home else None
        if self.clean_home:
            os.makedirs(self.clean_home, mode=0o700)
            with open(os.path.join(base, 'authorized_keys')) as handle:
                key = handle.read()
            with open(os.path.join(base, 'authorized_keys'), 'w') as handle:
                handle.write('environment="HOME=%s" %s' % (self.clean_home, key))
        # OpenSSH caps one sshd at 16 listen sockets (MAX_LISTEN_SOCKS): serve 16 addresses per sshd process,
        # every process on the same port with the same keys, so the inventory cannot tell them apart.
        self.configs = []
        for group, first in enumerate(range(1, hosts + 1, MAX_LISTEN)):
            config = os.path.join(base, 'sshd_config.%d' % group)
            with open(config, 'w') as handle:
                handle.write('\n'.join([
                    'Port %d' % self.port,
                    *('ListenAddress %s' % address(i) for i in range(first, min(hosts, first + MAX_LISTEN - 1) + 1)),
                    'HostKey %s' % os.path.join(base, 'host_key'),
                    'AuthorizedKeysFile %s' % os.path.join(base, 'authorized_keys'),
                    'PidFile %s' % os.path.join(base, 'sshd.%d.pid' % group),
                    'PasswordAuthentication no',
                    'KbdInteractiveAuthentication no',
                    'PubkeyAuthentication yes',
                    'PermitRootLogin prohibit-password',
                    'StrictModes no',
                    'UsePAM no',
                    'MaxSessions 100',
                    'MaxStartups 200:30:400',
                    'Subsystem sftp internal-sftp',
                    'LogLevel ERROR',
                    *(['PermitUserEnvironment HOME'] if self.clean_home else []),
                    '',
                ]))
            self.configs.append((config, first))
        self.procs = []
        if os.geteuid() == 0:
            os.makedirs('/run/sshd', mode=0o755, exist_ok=True)

    def start(self):
        log = os.path.join(self.base, 'sshd.log')
        for config, first in self.configs:
            proc = subprocess.Popen([self.binary, '-D', '-e', '-f', config], stdout=open(log, 'ab'),
                                    stderr=subprocess.STDOUT)
            self.procs.append(proc)
            deadline = time.monotonic() + 15
            while True:
                if proc.poll() is not None:
                    raise RuntimeError('sshd exited: %s' % open(log).read())
                try:
                    socket.create_connection((address(first), self.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError('sshd did not listen on %s port %d' % (address(first), self.port))
                    time.sleep(0.1)

    def cpu(self):
        """CPU seconds of the sshds and every session they reaped (the target side: sshd, sh, python modules)."""
        return sum(_proc_cpu(proc.pid) for proc in self.procs)

    def settle(self, timeout=5.0):
        """Wait until no sshd has session processes left, so cpu() includes every finished session."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_children_of(proc.pid) for proc in self.procs):
            time.sleep(0.05)

    def ssh_cmd(self, i, program='ssh'):
        port_flag = '-p' if program == 'ssh' else '-P'
        return [program, '-i', self.key, port_flag, str(self.port)] + SSH_OPTS

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


class Run:
    """One ansible-playbook run."""

    def __init__(self, rc, output, events, run_dir, wall, ctl_cpu, tgt_cpu, busy=None, foreign=0):
        self.rc = rc
        self.output = output
        self.events = events
        self.run_dir = run_dir
        self.wall = wall
        self.ctl_cpu = ctl_cpu
        self.tgt_cpu = tgt_cpu
        self.busy = busy  # CPU seconds the whole machine was busy during the run (ours and anybody else's)
        self.foreign = foreign  # other test suites / playbooks seen running just before this run

    @property
    def other_cpu(self):
        """Machine CPU not accounted to this run's controller or target processes: daemonized processes (built-in
        async's async_wrapper and module, our job supervisors and jobs, ssh masters) and anybody else's work."""
        return None if self.busy is None else max(0.0, self.busy - self.ctl_cpu - self.tgt_cpu)

    @property
    def ok(self):
        return self.rc == 0

    def error(self):
        lines = [line for line in self.output.splitlines() if 'fatal:' in line or 'ERROR' in line or 'FAILED' in line]
        return (lines[0] if lines else self.output[-300:]).strip()[:300]

    def results(self, task, event='ok'):
        """{host: result} of the task with this name (the last one per host)."""
        return {e['host']: e['result'] for e in self.events if e['task'] == task and e['ev'] == event}

    def items(self, task):
        """[(host, item_index, time, result)] of every loop item of a task."""
        return [(e['host'], e.get('index'), e['t'], e['result']) for e in self.events
                if e['task'] == task and e['ev'] == 'item_ok']

    def task_start(self, task):
        return min(e['t'] for e in self.events if e['task'] == task and e['ev'] == 'task_start')

    def task_end(self, task):
        return max(e['t'] for e in self.events if e['task'] == task and e['ev'] in ('ok', 'failed'))

    def span(self, first, last):
        """Seconds from the start of task `first` to the last result of task `last`."""
        return self.task_end(last) - self.task_start(first)


class Lab:
    """Inventories of 1..N loopback hosts behind one sshd, and a timed ansible-playbook runner.

    Both ways (built-in async and remote.jobs) run with the same settings: pipelining on, the default ssh_args
    (so ControlPersist=60s), the same forks, and a fresh ControlPath folder per run whose masters are closed
    afterwards (every run starts cold; none inherits another run's connections).
    """

    def __init__(self, sshd, base, forks=10, python=None):
        self.sshd = sshd
        self.base = base
        self.forks = forks
        self.python = python or sys.executable
        self.runs = 0
        ensure_collection_link()

    def inventory(self, path, hosts, run_dir, host_vars=None):
        inv_hosts = {}
        for i in range(1, hosts + 1):
            name = host_name(i)
            inv_hosts[name] = dict({
                'ansible_host': address(i),
                'ansible_port': self.sshd.port,
                'ansible_user': self.sshd.user,
                'remote_jobs_root': os.path.join(run_dir, 'roots', name),
            }, **(host_vars or {}))
        inventory = {'all': {
            'vars': {
                'ansible_connection': 'ssh',
                'ansible_ssh_private_key_file': self.sshd.key,
                'ansible_ssh_common_args': ' '.join(SSH_OPTS),
                'ansible_python_interpreter': self.python,
            },
            'hosts': inv_hosts,
        }}
        with open(path, 'w') as handle:
            yaml.safe_dump(inventory, handle)

    def env(self, run_dir, events, **extra):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'benchtimes',
            'ANSIBLE_PIPELINING': 'True',
            'ANSIBLE_HOST_KEY_CHECKING': 'False',
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORKS': str(self.forks),
            'ANSIBLE_LOCAL_TEMP': os.path.join(run_dir, 'local-tmp'),
            'ANSIBLE_REMOTE_TMP': os.path.join(self.base, 'remote-tmp'),
            'ANSIBLE_ASYNC_DIR': os.path.join(run_dir, 'async'),
            'ANSIBLE_SSH_CONTROL_PATH_DIR': os.path.join(run_dir, 'cp'),
            'ANSIBLE_DEPRECATION_WARNINGS': 'False',
            'BENCH_EVENTS': events,
            'PATH': BIN + os.pathsep + env.get('PATH', ''),
        })
        env.pop('ANSIBLE_CONFIG', None)
        env.update(extra)
        return env

    def play(self, label, tasks, hosts=1, pre_tasks=None, host_vars=None, env=None, extra_args=(), command=None):
        """Run one playbook: an untimed setup play of pre_tasks (if any) would distort the wall time, so setup is
        done by the caller; this runs exactly `tasks` on hosts h01..h<hosts> and times the whole process."""
        self.runs += 1
        run_dir = os.path.join(self.base, 'r%03d' % self.runs)
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, 'label'), 'w') as handle:
            handle.write(label + '\n')
        playbook = os.path.join(run_dir, 'play.yml')
        with open(playbook, 'w') as handle:
            yaml.safe_dump([{'name': label, 'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], handle,
                           sort_keys=False, width=1000)
        inventory = os.path.join(run_dir, 'inventory.yml')
        self.inventory(inventory, hosts, run_dir, host_vars)
        events = os.path.join(run_dir, 'events.json')
        cmd = (command or [os.path.join(BIN, 'ansible-playbook')]) + ['-i', inventory, playbook] + list(extra_args)
        self.sshd.settle()
        foreign = len(foreign_processes())
        tgt0 = self.sshd.cpu()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0 = machine_busy()
        t0 = time.monotonic()
        # Own session, so an interrupted bench can stop ansible-playbook and all its workers.
        proc = subprocess.Popen(cmd, env=self.env(run_dir, events, **(env or {})), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=run_dir, start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=600)
        except BaseException:
            _stop_group(proc)
            self.close_masters(run_dir)
            raise
        wall = time.monotonic() - t0
        busy = machine_busy() - busy0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.close_masters(run_dir)
        self.sshd.settle()
        tgt_cpu = self.sshd.cpu() - tgt0
        ctl_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        output = stdout.decode('utf-8', 'replace')
        with open(os.path.join(run_dir, 'output.txt'), 'w') as handle:
            handle.write(output)
        records = []
        if os.path.exists(events):
            with open(events) as handle:
                records = json.load(handle)
        return Run(proc.returncode, output, records, run_dir, wall, ctl_cpu, tgt_cpu, busy, foreign)

    def close_masters(self, run_dir):
        """Close the ControlPersist masters this run left behind (each run starts and ends cold)."""
        cp = os.path.join(run_dir, 'cp')
        if not os.path.isdir(cp):
            return
        for sock in os.listdir(cp):
            subprocess.run(['ssh', '-o', 'ControlPath=%s' % os.path.join(cp, sock), '-O', 'exit', 'bench'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
