#!/usr/bin/env python3
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remote.jobs against Ansible's own async/async_status, the same work both ways in one run.

    .venv/bin/python bench/run.py            # full run (about 7 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # smoke run (under 2 minutes): checks the harness, not the timings
    .venv/bin/python bench/run.py --only W3,W4

Starts its own sshd on 127.0.0.1..127.0.0.N (N = the largest host count), runs ansible-playbook with the same
settings for both ways (pipelining on, default ssh_args so ControlPersist=60s, forks 10, every run starting with
no ssh master), prints a markdown table and writes it to bench/results/latest.md (raw numbers: latest.json).

Exit status: 0 when every playbook ran and did its work; 1 otherwise. Timings never change the exit status.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from _lab import ROOT, Lab, Sshd, address  # noqa: E402

RESULTS = os.path.join(BENCH, 'results')

FULL = dict(
    w1_jobs=20, w1_sleep=2, w1_hosts=(1, 3), w1_repeats=(2, 5),
    w2_jobs=100, w2_hosts=3,
    w3_samples=5,
    w4_bytes=100 * 1024 * 1024, w4_repeats=3, w4_scp_repeats=5,
    w5_jobs=3, w5_sleep=1, w5_hosts=(1, 5, 10, 25),
)
QUICK = dict(
    w1_jobs=3, w1_sleep=1, w1_hosts=(1, 3), w1_repeats=(1, 2),
    w2_jobs=5, w2_hosts=3,
    w3_samples=2,
    w4_bytes=4 * 1024 * 1024, w4_repeats=1, w4_scp_repeats=2,
    w5_jobs=2, w5_sleep=1, w5_hosts=(1, 3),
)
W2_COMMAND = 'printf %01024d 7'        # 1024 bytes, no shell needed, same text both ways
W3_SPACING = {'ours': 1.5, 'builtin': 2.5}
W3_MARGIN = 0.6                        # a sample counts only if the waiter was asking this long before the end
TARGETS = {
    'W1': 'remote.jobs at least 10x faster on 3 hosts',
    'W3': 'remote.jobs median under 0.5 s',
    'W4': 'remote.jobs within 1.3x of plain scp (each with the same ssh compression setting)',
    'W5': 'remote.jobs grows no faster than built-in (seconds per added host, 1 -> max hosts)',
}


class BenchError(Exception):
    pass


# --- playbooks ----------------------------------------------------------------------------------------------------

def builtin_tasks(jobs, command, sleep_between=1):
    """Ansible's own way: async + poll 0 in a loop, then async_status until finished in a loop."""
    return [
        {'name': 'start', 'ansible.builtin.command': command, 'async': 600, 'poll': 0,
         'loop': '{{ range(%d) | list }}' % jobs, 'register': 'started'},
        {'name': 'wait', 'ansible.builtin.async_status': {'jid': '{{ item.ansible_job_id }}'},
         'loop': '{{ started.results }}', 'loop_control': {'label': '{{ item.ansible_job_id }}'},
         'register': 'st', 'until': 'st.finished', 'retries': 600, 'delay': sleep_between},
    ]


def ours_tasks(jobs, command):
    """remote.jobs: one start with jobs:, one wait, one receive."""
    ids = "{{ started.jobs | map(attribute='id') | list }}"
    return [
        {'name': 'start', 'remote.jobs.start': {'jobs': [{'command': command} for _ in range(jobs)]},
         'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': ids, 'timeout': 600}},
        {'name': 'receive', 'remote.jobs.receive': {'id': ids}},
    ]


def check_builtin(run, hosts, jobs, stdout_len=None):
    if not run.ok:
        raise BenchError('built-in run failed (rc %d): %s' % (run.rc, run.error()))
    waits = run.results('wait')
    if len(waits) != hosts:
        raise BenchError('built-in: wait results from %d of %d hosts' % (len(waits), hosts))
    for host, result in waits.items():
        items = result.get('results') or []
        done = [i for i in items if i.get('finished') and i.get('rc') == 0]
        if len(done) != jobs:
            raise BenchError('built-in: %s finished %d of %d jobs' % (host, len(done), jobs))
        if stdout_len is not None and any(len(i.get('stdout', '')) != stdout_len for i in done):
            raise BenchError('built-in: %s stdout is not %d bytes' % (host, stdout_len))


def check_ours(run, hosts, jobs, stdout_len=None):
    if not run.ok:
        raise BenchError('remote.jobs run failed (rc %d): %s' % (run.rc, run.error()))
    received = run.results('receive')
    if len(received) != hosts:
        raise BenchError('remote.jobs: receive results from %d of %d hosts' % (len(received), hosts))
    for host, result in received.items():
        views = result.get('jobs') or []
        done = [v for v in views if v.get('state') == 'completed']
        if len(done) != jobs:
            raise BenchError('remote.jobs: %s completed %d of %d jobs' % (host, len(done), jobs))
        if stdout_len is not None and any(len(v.get('stdout', '')) != stdout_len for v in done):
            raise BenchError('remote.jobs: %s stdout is not %d bytes' % (host, stdout_len))


# --- formatting ---------------------------------------------------------------------------------------------------

def secs(value):
    if value is None:
        return 'n/a'
    return '%.2f s' % value if value < 100 else '%.0f s' % value


def times_faster(builtin, ours):
    if not builtin or not ours:
        return 'n/a'
    return '%.1fx' % (builtin / ours)


def verdict(ok):
    return 'PASS' if ok else 'FAIL'


class Report:
    def __init__(self):
        self.rows = []       # main table
        self.runs = []       # every playbook run: details table
        self.targets = []    # (workload, target, measured, verdict)
        self.errors = []
        self.raw = {}

    def row(self, workload, measure, builtin, ours, ratio, note=''):
        self.rows.append((workload, measure, builtin, ours, ratio, note))

    def run(self, label, hosts, run):
        tasks = []
        seen = []
        for event in run.events:
            if event['ev'] == 'task_start' and event['task'] not in seen:
                seen.append(event['task'])
        for task in seen:
            try:
                tasks.append('%s %.2f' % (task, run.task_end(task) - run.task_start(task)))
            except ValueError:
                pass
        self.runs.append((label, hosts, run.wall, run.ctl_cpu, run.tgt_cpu, run.other_cpu, ', '.join(tasks), run.rc))
        self.raw.setdefault('runs', []).append({
            'label': label, 'hosts': hosts, 'wall': run.wall, 'controller_cpu': run.ctl_cpu,
            'target_cpu': run.tgt_cpu, 'other_cpu': run.other_cpu, 'foreign': run.foreign, 'rc': run.rc,
            'run_dir': run.run_dir, 'tasks': tasks})

    def shared_runs(self):
        """(runs that started while other test suites / playbooks ran on this machine, all runs)"""
        runs = self.raw.get('runs') or []
        return sum(1 for r in runs if r['foreign']), len(runs)

    def target(self, workload, measured, ok):
        self.targets.append((workload, TARGETS[workload], measured, verdict(ok) if ok is not None else 'n/a'))

    def error(self, workload, exc):
        self.errors.append('%s: %s' % (workload, exc))
        self.row(workload, 'error', '', '', '', str(exc)[:200])

    def markdown(self, header):
        out = [header, '',
               '| workload | measured | built-in async | remote.jobs | built-in / remote.jobs | note |',
               '|---|---|---:|---:|---:|---|']
        out += ['| %s |' % ' | '.join(str(c) for c in row) for row in self.rows]
        out += ['', '| target | measured | verdict |', '|---|---|---|']
        out += ['| %s: %s | %s | %s |' % t for t in self.targets]
        if self.errors:
            out += ['', 'Errors:', ''] + ['- %s' % e for e in self.errors]
        out += ['', 'Every playbook run (wall = whole ansible-playbook process; CPU in seconds: controller = '
                'ansible-playbook and its workers and ssh clients, target = sshd sessions and the module processes '
                'they reaped; unaccounted = the rest of the machine\'s busy CPU during the run: daemonized processes '
                '(built-in async\'s async_wrapper and module runs, our supervisors and jobs, ssh masters) and any '
                'other work on the machine; task = first task start to last result on the controller):', '',
                '| run | hosts | wall | controller CPU | target CPU | unaccounted CPU | tasks (s) | rc |',
                '|---|---:|---:|---:|---:|---:|---|---:|']
        out += ['| %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %d |' % r for r in self.runs]
        return '\n'.join(out) + '\n'


# --- workloads ----------------------------------------------------------------------------------------------------

def _spread(values):
    """'median (min-max, n=N)' of some seconds, or just the value for one run."""
    if len(values) == 1:
        return secs(values[0])
    return '%s (%s-%s, n=%d)' % (secs(statistics.median(values)), secs(min(values)), secs(max(values)), len(values))


def w1(lab, cfg, report):
    """The target host count runs several times each way (the verdict compares medians: single runs of ours
    vary by a few percent, and the 10x target is judged on a ratio)."""
    jobs, sleep = cfg['w1_jobs'], cfg['w1_sleep']
    command = 'sleep %s' % sleep
    top = max(cfg['w1_hosts'])
    for hosts in cfg['w1_hosts']:
        builtin_reps, ours_reps = cfg['w1_repeats'] if hosts == top else (1, 1)
        b_runs, o_runs = [], []
        for rep in range(max(builtin_reps, ours_reps)):
            if rep < builtin_reps:
                b = lab.play('W1 built-in %d host(s)' % hosts, builtin_tasks(jobs, command), hosts=hosts)
                report.run('W1 built-in', hosts, b)
                check_builtin(b, hosts, jobs)
                b_runs.append(b)
            if rep < ours_reps:
                o = lab.play('W1 remote.jobs %d host(s)' % hosts, ours_tasks(jobs, command), hosts=hosts)
                report.run('W1 remote.jobs', hosts, o)
                check_ours(o, hosts, jobs)
                o_runs.append(o)
        b_walls, o_walls = [r.wall for r in b_runs], [r.wall for r in o_runs]
        b_wall, o_wall = statistics.median(b_walls), statistics.median(o_walls)
        b = b_runs[0]
        report.row('W1 %d x `%s`, %d host%s' % (jobs, command, hosts, 's' if hosts > 1 else ''),
                   'playbook wall%s' % (', median' if len(o_walls) > 1 else ''), _spread(b_walls),
                   _spread(o_walls), times_faster(b_wall, o_wall),
                   'built-in start loop %.1f s, async_status loop %.1f s' % (
                       b.task_end('start') - b.task_start('start'), b.task_end('wait') - b.task_start('wait')))
        report.raw.setdefault('W1', {})[hosts] = {'builtin': b_wall, 'ours': o_wall, 'builtin_runs': b_walls,
                                                  'ours_runs': o_walls}
    hosts = top
    # Diagnosis, not the target: the same jobs with two tasks (start, then receive with wait: true).
    ids = "{{ started.jobs | map(attribute='id') | list }}"
    two = lab.play('W1 remote.jobs, receive wait: true', [
        {'name': 'start', 'remote.jobs.start': {'jobs': [{'command': command} for _ in range(jobs)]},
         'register': 'started'},
        {'name': 'receive', 'remote.jobs.receive': {'id': ids, 'wait': True, 'timeout': 600}},
    ], hosts=hosts)
    report.run('W1 remote.jobs, start + receive wait: true', hosts, two)
    check_ours(two, hosts, jobs)
    b = report.raw['W1'][hosts]['builtin']
    report.row('W1 same, 2 tasks: start + receive `wait: true` (diagnosis)', 'playbook wall', secs(b), secs(two.wall),
               times_faster(b, two.wall), 'one task fewer than start + wait + receive')
    data = report.raw['W1'][hosts]
    ratio = data['builtin'] / data['ours']
    worst = min(data['builtin_runs']) / max(data['ours_runs'])
    report.target('W1', '%.1fx on %d hosts (medians of %d built-in and %d remote.jobs runs; slowest of ours against '
                  'fastest built-in: %.1fx)' % (ratio, hosts, len(data['builtin_runs']), len(data['ours_runs']), worst),
                  ratio >= 10)


def w2(lab, cfg, report):
    jobs, hosts = cfg['w2_jobs'], cfg['w2_hosts']
    b = lab.play('W2 built-in', builtin_tasks(jobs, W2_COMMAND), hosts=hosts)
    report.run('W2 built-in', hosts, b)
    check_builtin(b, hosts, jobs, stdout_len=1024)
    o = lab.play('W2 remote.jobs', ours_tasks(jobs, W2_COMMAND), hosts=hosts)
    report.run('W2 remote.jobs', hosts, o)
    check_ours(o, hosts, jobs, stdout_len=1024)
    report.row('W2 %d jobs x 1 KiB output, %d hosts' % (jobs, hosts), 'playbook wall', secs(b.wall), secs(o.wall),
               times_faster(b.wall, o.wall), 'output checked: %d x 1024 bytes per host, both ways' % jobs)
    report.raw['W2'] = {'builtin': b.wall, 'ours': o.wall}


def _iso_utc(value):
    return datetime.datetime.strptime(value, '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _local(value):
    """The command module's start/end: the target's local time (same machine, so same clock and zone)."""
    return datetime.datetime.strptime(value, '%Y-%m-%d %H:%M:%S.%f').timestamp()


def _latencies(run, task, end_of):
    """[(latency, valid)] for each loop item of `task`: result arrival time minus the job's end. A sample is
    valid when the waiter was already asking W3_MARGIN seconds before the job ended."""
    items = sorted(run.items(task), key=lambda item: item[2])
    previous = run.task_start(task)
    samples = []
    for _host, _index, arrived, result in items:
        ended = end_of(result)
        samples.append((arrived - ended, previous + W3_MARGIN < ended))
        previous = arrived
    return samples


def w3(lab, cfg, report):
    n = cfg['w3_samples']
    # remote.jobs: jobs ending W3_SPACING apart, one wait per job (a loop), each already waiting when its job ends.
    spacing = W3_SPACING['ours']
    jobs = [{'name': 'lat%d' % i, 'command': 'sleep %.1f' % (1.5 + spacing * i)} for i in range(n)]
    o = lab.play('W3 remote.jobs', [
        {'name': 'start', 'remote.jobs.start': {'jobs': jobs}, 'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': '{{ item.id }}', 'timeout': 120}, 'loop': '{{ started.jobs }}',
         'loop_control': {'label': '{{ item.id }}'}},
    ])
    report.run('W3 remote.jobs', 1, o)
    if not o.ok:
        raise BenchError('remote.jobs run failed (rc %d): %s' % (o.rc, o.error()))
    ours = _latencies(o, 'wait', lambda r: _iso_utc(r['jobs'][0]['finished']))
    # built-in: async jobs ending W3_SPACING apart, async_status (delay 1) polling each in turn.
    spacing = W3_SPACING['builtin']
    head = 1.5 + 1.5 * n  # the async starts take about 1-1.5 s each: let them all start before the first ends
    b = lab.play('W3 built-in', [
        {'name': 'start', 'ansible.builtin.command': 'sleep {{ item }}', 'async': 600, 'poll': 0,
         'loop': [round(head + spacing * i, 1) for i in range(n)], 'register': 'started'},
        {'name': 'wait', 'ansible.builtin.async_status': {'jid': '{{ item.ansible_job_id }}'},
         'loop': '{{ started.results }}', 'loop_control': {'label': '{{ item.ansible_job_id }}'},
         'register': 'st', 'until': 'st.finished', 'retries': 600, 'delay': 1},
    ])
    report.run('W3 built-in', 1, b)
    if not b.ok:
        raise BenchError('built-in run failed (rc %d): %s' % (b.rc, b.error()))
    builtin = _latencies(b, 'wait', lambda r: _local(r['end']))
    stats = {}
    for way, samples in (('builtin', builtin), ('ours', ours)):
        valid = [lat for lat, ok in samples if ok]
        if not valid:
            raise BenchError('W3 %s: no valid sample (the waiter was never asking before the job ended)' % way)
        stats[way] = {'median': statistics.median(valid), 'min': min(valid), 'max': max(valid),
                      'n': len(valid), 'of': len(samples), 'all': [lat for lat, _ in samples]}
    report.raw['W3'] = stats

    def fmt(s):
        return '%.3f s (%.3f-%.3f, n=%d)' % (s['median'], s['min'], s['max'], s['n'])
    report.row('W3 completion latency, 1 host', 'median (min-max) job end -> result on controller',
               fmt(stats['builtin']), fmt(stats['ours']), times_faster(stats['builtin']['median'], stats['ours']['median']),
               'built-in: async_status until finished, delay 1; remote.jobs: a wait already waiting')
    report.target('W3', '%.3f s median' % stats['ours']['median'], stats['ours']['median'] < 0.5)


def controller_placement():
    """(supported, why): results: controller needs the option in SPECS and a fetch implementation on the controller."""
    path = os.path.join(ROOT, 'plugins', 'module_utils', '_args.py')
    try:
        spec = importlib.util.spec_from_file_location('_bench_args', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        option = module.SPECS['start']['argument_spec'].get('results') or {}
        choices = list(option.get('choices') or [])
    except Exception as exc:  # _args.py is someone else's file: never let it break the bench
        return False, 'cannot read SPECS from %s: %s' % (path, exc)
    if 'controller' not in choices:
        return False, 'results: controller not in SPECS'
    utils = os.path.join(ROOT, 'plugins', 'plugin_utils')
    for name in sorted(os.listdir(utils)):
        if name.endswith('.py'):
            with open(os.path.join(utils, name)) as handle:
                if 'fetch_file' in handle.read():
                    return True, 'plugins/plugin_utils/%s' % name
    return False, 'no fetch implementation in plugins/plugin_utils'


def _write_big(path, size):
    """size bytes of base64 text (lines of 100 characters): log-like, not very compressible."""
    import base64
    digest = hashlib.sha256()
    with open(path, 'wb') as handle:
        left = size
        while left:
            raw = os.urandom(75 * 10000)
            text = b''.join(base64.b64encode(raw[i:i + 75]) + b'\n' for i in range(0, len(raw), 75))
            text = text[:left]
            handle.write(text)
            digest.update(text)
            left -= len(text)
    return digest.hexdigest()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def w4(lab, cfg, report):
    size = cfg['w4_bytes']
    label = '%d MiB' % (size // (1024 * 1024))
    src = os.path.join(lab.base, 'w4-source.txt')     # the "target" is this machine: one file serves all ways
    want = _write_big(src, size)
    # ansible.builtin.fetch of the file
    dest = os.path.join(lab.base, 'w4-fetch')
    f = lab.play('W4 fetch', [{'name': 'fetch', 'ansible.builtin.fetch': {'src': src, 'dest': dest + '/', 'flat': True}}])
    report.run('W4 ansible.builtin.fetch', 1, f)
    if not f.ok:
        raise BenchError('fetch failed (rc %d): %s' % (f.rc, f.error()))
    if _sha256(os.path.join(dest, os.path.basename(src))) != want:
        raise BenchError('fetch: the copy differs from the source')
    fetch_task = f.task_end('fetch') - f.task_start('fetch')
    # plain scp, same key, same sshd; and scp -C (ansible's default ssh_args include -C)
    # Each scp is timed several times (it varies by a third between single runs here); the median counts.
    scp, scp_runs = {}, {}
    for flag, repeats in (('', cfg['w4_scp_repeats']), ('-C', cfg['w4_repeats'])):
        copy = os.path.join(lab.base, 'w4-scp%s.txt' % flag)
        cmd = lab.sshd.ssh_cmd(1, 'scp') + ([flag] if flag else []) + [
            '%s@%s:%s' % (lab.sshd.user, address(1), src), copy]
        for _ in range(repeats):
            t0 = time.monotonic()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
            scp_runs.setdefault(flag, []).append(time.monotonic() - t0)
            if _sha256(copy) != want:
                raise BenchError('scp: the copy differs from the source')
            os.unlink(copy)
        scp[flag] = statistics.median(scp_runs[flag])
    # remote.jobs: a results: controller job that prints the file; its wait fetches the output into results_dir
    supported, why = controller_placement()
    ours = ours_wall = ours_nc = None
    ours_runs, ours_nc_runs = [], []
    # Diagnosis, not a target: Ansible's default ssh_args start with -C (zlib). The same two transfers without it.
    plain_args = {'ANSIBLE_SSH_ARGS': '-o ControlMaster=auto -o ControlPersist=60s'}
    if supported:
        for rep in range(cfg['w4_repeats']):
            for env, runs in (({}, ours_runs), (plain_args, ours_nc_runs)):
                results_dir = os.path.join(lab.base, 'w4-results-%d%s' % (rep, '-nc' if env else ''))
                o = lab.play('W4 remote.jobs%s' % (', ssh_args without -C' if env else ''), [
                    {'name': 'start', 'remote.jobs.start': {'command': 'cat %s' % src, 'results': 'controller',
                                                            'results_dir': results_dir}, 'register': 'started'},
                    {'name': 'receive', 'remote.jobs.receive': {'id': '{{ started.id }}', 'wait': True,
                                                                'timeout': 600},
                     'register': 'r', 'until': 'not r.has_more_data', 'retries': 100, 'delay': 0},
                ], env=env)
                report.run('W4 remote.jobs%s' % (', no -C' if env else ''), 1, o)
                if not o.ok:
                    raise BenchError('remote.jobs run failed (rc %d): %s' % (o.rc, o.error()))
                job_id = o.results('start')['h01']['id']
                copy = os.path.join(results_dir, 'h01', job_id, 'stdout')
                if not os.path.exists(copy) or _sha256(copy) != want:
                    raise BenchError('remote.jobs: %s is missing or differs from the source' % copy)
                runs.append(o)
                shutil.rmtree(results_dir, ignore_errors=True)
        ours = statistics.median(o.span('receive', 'receive') for o in ours_runs)
        ours_wall = statistics.median(o.wall for o in ours_runs)
        ours_nc = statistics.median(o.span('receive', 'receive') for o in ours_nc_runs)
    fn = lab.play('W4 fetch, ssh_args without -C', [
        {'name': 'fetch', 'ansible.builtin.fetch': {'src': src, 'dest': dest + '-nc/', 'flat': True}}], env=plain_args)
    report.run('W4 ansible.builtin.fetch, no -C', 1, fn)
    fetch_nc = fn.task_end('fetch') - fn.task_start('fetch') if fn.ok else None
    report.raw['W4'] = {'bytes': size, 'fetch_task': fetch_task, 'fetch_wall': f.wall, 'scp': scp[''],
                        'scp_C': scp['-C'], 'scp_runs': scp_runs.get(''), 'scp_C_runs': scp_runs.get('-C'),
                        'ours_task': ours, 'ours_wall': ours_wall, 'supported': supported, 'why': why,
                        'fetch_task_no_C': fetch_nc, 'ours_task_no_C': ours_nc,
                        'ours_runs': [o.span('receive', 'receive') for o in ours_runs],
                        'ours_no_C_runs': [o.span('receive', 'receive') for o in ours_nc_runs]}
    report.row('W4 %s output -> controller, 1 host' % label, 'transfer task (playbook wall)',
               'fetch: %s (%s)' % (secs(fetch_task), secs(f.wall)),
               '%s (%s)' % (_spread(report.raw['W4']['ours_runs']), secs(ours_wall)) if supported
               else 'n/a (results: controller not implemented)',
               times_faster(fetch_task, ours),
               'plain scp %s, scp -C %s; remote.jobs = one receive (wait: true) of a results: controller job, '
               'sha256-checked' % (_spread(scp_runs['']), _spread(scp_runs['-C'])))
    report.row('W4 same, ssh_args without -C', 'transfer task', 'fetch: %s' % secs(fetch_nc),
               _spread(report.raw['W4']['ours_no_C_runs']) if supported else 'n/a', times_faster(fetch_nc, ours_nc),
               'ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s" for both; %s of plain scp' % (
                   '%.2fx' % (ours_nc / scp['']) if ours_nc else 'n/a'))
    if supported:
        # Like for like: the same compression on both sides. Ansible's default ssh_args compress (-C), which on a
        # fast link costs more CPU than it saves; "plain scp" does not. Both comparisons must hold.
        with_c, without_c = ours / scp['-C'], (ours_nc / scp['']) if ours_nc else None
        report.target('W4', '%.2fx of plain scp without -C (%s vs %s); %.2fx of scp -C with Ansible\'s default -C '
                      '(%s vs %s); medians' % (without_c or float('nan'), secs(ours_nc), secs(scp['']), with_c,
                                               secs(ours), secs(scp['-C'])),
                      without_c is not None and without_c <= 1.3 and with_c <= 1.3)
    else:
        report.target('W4', 'n/a (results: controller not implemented: %s)' % why, None)


def w5(lab, cfg, report):
    jobs, sleep = cfg['w5_jobs'], cfg['w5_sleep']
    command = 'sleep %s' % sleep
    walls = {'builtin': {}, 'ours': {}}
    for hosts in cfg['w5_hosts']:
        b = lab.play('W5 built-in %d hosts' % hosts, builtin_tasks(jobs, command), hosts=hosts)
        report.run('W5 built-in', hosts, b)
        check_builtin(b, hosts, jobs)
        o = lab.play('W5 remote.jobs %d hosts' % hosts, ours_tasks(jobs, command), hosts=hosts)
        report.run('W5 remote.jobs', hosts, o)
        check_ours(o, hosts, jobs)
        walls['builtin'][hosts], walls['ours'][hosts] = b.wall, o.wall
        report.row('W5 %d x `%s` per host, %d host%s' % (jobs, command, hosts, 's' if hosts > 1 else ''),
                   'playbook wall (forks %d)' % lab.forks, secs(b.wall), secs(o.wall), times_faster(b.wall, o.wall), '')
    lo, hi = min(cfg['w5_hosts']), max(cfg['w5_hosts'])
    slope = {way: (walls[way][hi] - walls[way][lo]) / (hi - lo) for way in walls}
    growth = {way: walls[way][hi] / walls[way][lo] for way in walls}
    report.raw['W5'] = {'walls': walls, 'slope': slope, 'growth': growth}
    report.row('W5 growth %d -> %d hosts' % (lo, hi), 'seconds per added host (wall %d / wall %d)' % (hi, lo),
               '%.2f s (%.1fx)' % (slope['builtin'], growth['builtin']),
               '%.2f s (%.1fx)' % (slope['ours'], growth['ours']), times_faster(slope['builtin'], slope['ours']),
               'the ratio punishes a small 1-host time; the slope is the cost of one more host')
    report.target('W5', '%.2f s/host vs built-in %.2f s/host (wall %d/%d: %.1fx vs %.1fx)' % (
        slope['ours'], slope['builtin'], hi, lo, growth['ours'], growth['builtin']), slope['ours'] <= slope['builtin'])


WORKLOADS = {'W1': w1, 'W2': w2, 'W3': w3, 'W4': w4, 'W5': w5}


# --- main ---------------------------------------------------------------------------------------------------------

def machine():
    model = 'unknown'
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from ansible.release import __version__ as ansible_version
    except ImportError:
        ansible_version = 'unknown'
    ssh = subprocess.run(['ssh', '-V'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode().strip()
    commit = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL).stdout.decode().strip() or 'unknown'
    dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--', 'plugins'], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL).stdout.decode().strip()
    return {
        'nproc': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
        'cpu': model,
        'python': platform.python_version(),
        'ansible_core': ansible_version,
        'openssh': ssh,
        'kernel': platform.release(),
        'commit': commit + (' (plugins/ modified)' if dirty else ''),
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
    }


def _interrupted(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='a small smoke run (under 2 minutes)')
    parser.add_argument('--only', help='comma-separated workloads, e.g. W1,W3 (default: all)')
    parser.add_argument('--out', default=os.path.join(RESULTS, 'latest.md'), help='where to write the table')
    parser.add_argument('--keep', action='store_true', help='keep the scratch folder (playbooks, outputs, events)')
    parser.add_argument('--clean-home', action='store_true',
                        help="diagnosis: SSH sessions get an empty HOME, so this account's shell start-up files "
                             "(e.g. a ~/.bashrc running pyenv init) are not part of every command's price")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    selected = [w.strip().upper() for w in args.only.split(',')] if args.only else list(WORKLOADS)
    unknown = [w for w in selected if w not in WORKLOADS]
    if unknown:
        parser.error('unknown workload(s): %s' % ', '.join(unknown))

    # SIGTERM (or SIGINT in a background job, where it may be ignored) still stops sshd and cleans up.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    started = time.monotonic()
    # A short path: ssh control sockets live below it and a unix socket path has at most 107 bytes.
    base = tempfile.mkdtemp(prefix='rjb', dir='/tmp')
    hosts = max([max(cfg['w1_hosts']), cfg['w2_hosts'], max(cfg['w5_hosts'])])
    os.makedirs(os.path.join(base, 'sshd'))
    sshd = Sshd(os.path.join(base, 'sshd'), hosts, clean_home=args.clean_home)
    report = Report()
    info = machine()
    load_before = os.getloadavg()
    try:
        sshd.start()
        lab = Lab(sshd, base, forks=10)
        for name in selected:
            t0 = time.monotonic()
            print('%s ...' % name, end=' ', flush=True)
            try:
                WORKLOADS[name](lab, cfg, report)
            except Exception as exc:  # report the failure, go on with the other workloads (not on Ctrl-C)
                report.error(name, exc)
                if not isinstance(exc, BenchError):
                    traceback.print_exc()
            print('%.0f s' % (time.monotonic() - t0), flush=True)
    finally:
        sshd.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    total = time.monotonic() - started
    shared, runs = report.shared_runs()
    busy = shared > 0
    header = '\n'.join([
        '## remote.jobs vs async/async_status%s' % (' (--quick: smoke run, timings not meaningful)' if args.quick else ''),
        '',
        '%s; %d cores, %s; Python %s, ansible-core %s, %s; commit %s. Total bench runtime %.0f s.' % (
            info['date'], info['nproc'], info['cpu'], info['python'], info['ansible_core'], info['openssh'],
            info['commit'], total),
        '',
        'Same settings both ways: ssh connection over loopback to a private sshd, pipelining on, default ssh_args '
        '(-C, ControlPersist=60s), forks 10, every playbook starting without an ssh master. '
        'Ratios are built-in / remote.jobs (above 1 = remote.jobs is faster).',
        '',
        'Load average (1 min) before the first run %.2f; other test suites or playbooks were running when %d of '
        '%d playbook runs started%s' % (
            load_before[0], shared, runs,
            ': WARNING, the machine was shared; timings are inflated and noisy.' if busy else '.'),
    ])
    text = report.markdown(header)
    print()
    print(text)
    print('total runtime: %.0f s' % total)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as handle:
        handle.write(text)
    report.raw.update(machine=info, total_seconds=total, load_before=load_before, shared_runs=report.shared_runs(),
                      quick=args.quick, errors=report.errors)
    with open(os.path.splitext(args.out)[0] + '.json', 'w') as handle:
        json.dump(report.raw, handle, indent=2, default=str)
    if args.keep:
        print('scratch folder kept: %s' % base)
    return 1 if report.errors else 0


if __name__ == '__main__':
    sys.exit(main())
