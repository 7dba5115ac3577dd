#!/usr/bin/env python3
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where does remote.jobs' remaining time go? (about 2 minutes on 2 cores)

    .venv/bin/python bench/breakdown.py [--cprofile] [--w4-mib 100]

Against the same kind of private loopback sshd as bench/run.py, measures:

1. fixed costs: an empty ansible-playbook, and the first / each further task for ping, remote.jobs.info,
   command and async command (median of 3 runs);
2. W1 (20 x sleep 2 on 3 hosts, start + wait + receive) with timers inside every worker process
   (bench/_instrumented_playbook.py): dispatch delay, payload build, ssh exec_command, result delivery;
3. the 100 MiB results: controller receive, split into module calls, fetch_file, verification and append;
4. the target side of one module call: AnsiballZ payload size, its run time on this machine, python start-up
   and what its imports cost.

Writes bench/results/breakdown.md (git-ignored) and prints it.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from _lab import Lab, Sshd  # noqa: E402
from run import RESULTS, _write_big, machine  # noqa: E402

INSTRUMENTED = [sys.executable, os.path.join(BENCH, '_instrumented_playbook.py')]


def median_run(lab, label, tasks, reps=3, hosts=1):
    runs = [lab.play(label, tasks, hosts=hosts) for _ in range(reps)]
    for run in runs:
        if not run.ok:
            raise SystemExit('%s failed: %s' % (label, run.error()))
    return runs[sorted(range(reps), key=lambda i: runs[i].wall)[reps // 2]]


def fixed_costs(lab, out):
    out += ['### 1. Fixed costs (1 host, median of 3 runs)', '',
            '| playbook | wall | first task | each further task | controller CPU | target CPU per task |',
            '|---|---:|---:|---:|---:|---:|']
    empty = median_run(lab, 'empty', [])
    out.append('| no tasks (ansible-playbook start-up) | %.2f s | | | %.2f s | |' % (empty.wall, empty.ctl_cpu))
    kinds = [
        ('ansible.builtin.ping', {'ansible.builtin.ping': {}}),
        ('remote.jobs.info', {'remote.jobs.info': {}}),
        ('remote.jobs.start (1 job, `true`)', {'remote.jobs.start': {'command': 'true'}}),
        ('ansible.builtin.command `true`', {'ansible.builtin.command': 'true'}),
        ('ansible.builtin.command `true`, async 60, poll 0', {'ansible.builtin.command': 'true', 'async': 60, 'poll': 0}),
    ]
    data = {}
    for label, task in kinds:
        one = median_run(lab, label + ' x1', [dict(task, name='t0')])
        five = median_run(lab, label + ' x5', [dict(task, name='t%d' % i) for i in range(5)])
        first = one.task_end('t0') - one.task_start('t0')
        further = (five.task_end('t4') - five.task_start('t1')) / 4
        tgt = (five.tgt_cpu - one.tgt_cpu) / 4
        data[label] = (first, further, tgt)
        out.append('| %s | %.2f s (x1), %.2f s (x5) | %.3f s | %.3f s | %.2f s (x5) | %.3f s |' % (
            label, one.wall, five.wall, first, further, five.ctl_cpu, tgt))
    out.append('')
    return empty, data


def _workers(folder):
    records = []
    for path in glob.glob(os.path.join(folder, '*.json')):
        with open(path) as handle:
            records.append(json.load(handle))
    return records


def instrumented(lab, label, tasks, hosts, cprofile=False, **env_extra):
    folder = tempfile.mkdtemp(prefix='prof-', dir=lab.base)
    env = dict(env_extra, BENCH_PROFILE_DIR=folder)
    if cprofile:
        env['BENCH_CPROFILE'] = '1'
    run = lab.play(label, tasks, hosts=hosts, env=env, command=list(INSTRUMENTED))
    if not run.ok:
        raise SystemExit('%s failed: %s\n%s' % (label, run.error(), run.output[-2000:]))
    return run, _workers(folder), folder


def breakdown(run, workers, out, title):
    """One row per task: means over hosts of the worker's phases."""
    out += [title, '',
            '| task | hosts | task span | dispatch | worker | payload build | ssh exec (calls) | other in worker | '
            'delivery |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    order = []
    for event in run.events:
        if event['ev'] == 'task_start' and event['task'] not in order:
            order.append(event['task'])
    rows = {}
    for task in order:
        mine = [w for w in workers if w['task'] == task]
        if not mine:
            continue
        start = run.task_start(task)
        arrivals = {e['host']: e['t'] for e in run.events if e['task'] == task and e['ev'] in ('ok', 'failed')}
        dispatch = statistics.mean(w['t0'] - start for w in mine)
        wall = statistics.mean(w['t1'] - w['t0'] for w in mine)
        build = statistics.mean(w['timers'].get('build_payload', 0) for w in mine)
        ssh = statistics.mean(w['timers'].get('ssh_exec', 0) + w['timers'].get('ssh_put', 0)
                              + w['timers'].get('ssh_fetch', 0) for w in mine)
        calls = statistics.mean(w['counts'].get('ssh_exec', 0) + w['counts'].get('ssh_put', 0)
                                + w['counts'].get('ssh_fetch', 0) for w in mine)
        delivery = statistics.mean(arrivals[w['host']] - w['t1'] for w in mine if w['host'] in arrivals)
        span = run.task_end(task) - start
        rows[task] = dict(span=span, dispatch=dispatch, wall=wall, build=build, ssh=ssh, calls=calls,
                          delivery=delivery)
        out.append('| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f (%.1f) | %.3f | %.3f |' % (
            task, len(mine), span, dispatch, wall, build, ssh, calls, wall - build - ssh, delivery))
    out.append('')
    return rows


def target_side(lab, out):
    """Payload sizes and local run times of the modules (the same python, the same machine)."""
    tasks = [
        {'name': 'start', 'remote.jobs.start': {'command': 'true'}, 'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': '{{ started.id }}', 'timeout': 20}},
        {'name': 'receive', 'remote.jobs.receive': {'id': '{{ started.id }}'}},
        {'name': 'info', 'remote.jobs.info': {}},
        {'name': 'ping', 'ansible.builtin.ping': {}},
        {'name': 'command', 'ansible.builtin.command': 'true'},
    ]
    run = lab.play('keep payloads', tasks, env={'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_PIPELINING': 'False'})
    if not run.ok:
        raise SystemExit('keep payloads failed: %s' % run.error())
    payloads = sorted(glob.glob(os.path.join(lab.base, 'remote-tmp', '*', 'AnsiballZ_*.py')), key=os.path.getmtime)
    python = lab.python

    def timeit(argv, reps=7):
        times = []
        for _ in range(reps):
            t0 = time.monotonic()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.monotonic() - t0)
        return statistics.median(times)

    out += ['### 4. Target side of one module call (this machine, %s)' % python, '',
            '| payload | size | run time (median of 7) | import ansible.module_utils.basic | import remote.jobs module_utils |',
            '|---|---:|---:|---:|---:|']
    bare = timeit([python, '-c', 'pass'])
    for path in payloads:
        name = os.path.basename(path)
        elapsed = timeit([python, path])
        imports = subprocess.run([python, '-X', 'importtime', path], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE).stderr.decode()
        cumulative = {}
        for line in imports.splitlines():
            match = re.match(r'import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)', line)
            if match:
                cumulative[match.group(2)] = int(match.group(1)) / 1e6
        ours = sum(v for k, v in cumulative.items() if k.startswith('ansible_collections.remote.jobs.plugins.module_utils')
                   and k.count('.') == 5)
        out.append('| %s | %d KiB | %.3f s | %.3f s | %s |' % (
            name, os.path.getsize(path) // 1024, elapsed, cumulative.get('ansible.module_utils.basic', 0),
            '%.3f s' % ours if ours else ''))
    out += ['', 'Bare `python -c pass`: %.3f s.' % bare, '']


def w4_profile(lab, out, mib, compression=True):
    src = os.path.join(lab.base, 'w4-profile.txt')
    _write_big(src, mib * 1024 * 1024)
    t0 = time.monotonic()
    with open(src, 'rb') as handle:
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    sha = time.monotonic() - t0
    results_dir = os.path.join(lab.base, 'w4-profile-results')
    tasks = [
        {'name': 'start', 'remote.jobs.start': {'command': 'cat %s' % src, 'results': 'controller',
                                                'results_dir': results_dir}, 'register': 'started'},
        {'name': 'receive', 'remote.jobs.receive': {'id': '{{ started.id }}', 'wait': True, 'timeout': 600}},
    ]
    env = {} if compression else {'ANSIBLE_SSH_ARGS': '-o ControlMaster=auto -o ControlPersist=60s'}
    run, workers, _ = instrumented(lab, 'W4 profile', tasks, hosts=1, **env)
    rows = breakdown(run, workers, out, '### 3. %d MiB results: controller receive (1 host, ssh_args %s), worker '
                     'timers in seconds' % (mib, 'with -C' if compression else 'without -C'))
    receive = [w for w in workers if w['task'] == 'receive'][0]
    calls = receive['calls']
    out += ['Calls inside the receive worker (start offset, duration), in order:', '']
    for key, start, elapsed in calls:
        out.append('- %s: +%.3f s, %.3f s' % (key, start, elapsed))
    scp = lab.sshd.ssh_cmd(1, 'scp') + ['%s@127.0.0.1:%s' % (lab.sshd.user, src), os.path.join(lab.base, 'scp.copy')]
    t0 = time.monotonic()
    subprocess.run(scp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scp_time = time.monotonic() - t0
    out += ['', 'For scale: sha256 of the %d MiB file on this machine %.3f s (the target does it once, when the job '
            'ends; the controller once more to verify, while the fetched file is fsynced); plain scp of it %.3f s.'
            % (mib, sha, scp_time), '']
    return rows


def top_cprofile(folder, out, limit=20):
    stats = None
    for path in glob.glob(os.path.join(folder, '*.prof')):
        try:  # a worker still writing when the playbook ended leaves a short file: skip it
            if stats is None:
                stats = pstats.Stats(path)
            else:
                stats.add(path)
        except (EOFError, ValueError, TypeError):
            continue
    if stats is None:
        return
    out += ['### cProfile of the workers (all tasks, all hosts), top %d by own time' % limit, '', '```']
    import io
    buffer = io.StringIO()
    stats.stream = buffer
    stats.sort_stats('tottime').print_stats(limit)
    text = buffer.getvalue()
    out += [line for line in text.splitlines() if line.strip()][-(limit + 2):]
    out += ['```', '']


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cprofile', action='store_true', help='also cProfile the workers of the W1 run')
    parser.add_argument('--w4-mib', type=int, default=100)
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args(argv)
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix='rjp', dir='/tmp')
    os.makedirs(os.path.join(base, 'sshd'))
    sshd = Sshd(os.path.join(base, 'sshd'), 3)
    info = machine()
    out = ['## Where remote.jobs spends its time', '',
           '%s; %d cores, %s; Python %s, ansible-core %s; commit %s.' % (
               info['date'], info['nproc'], info['cpu'], info['python'], info['ansible_core'], info['commit']), '']
    try:
        sshd.start()
        lab = Lab(sshd, base, forks=10)
        fixed_costs(lab, out)
        w1 = [
            {'name': 'start', 'remote.jobs.start': {'jobs': [{'command': 'sleep 2'}] * 20}, 'register': 'started'},
            {'name': 'wait', 'remote.jobs.wait': {'id': "{{ started.jobs | map(attribute='id') | list }}",
                                                  'timeout': 60}},
            {'name': 'receive', 'remote.jobs.receive': {'id': "{{ started.jobs | map(attribute='id') | list }}"}},
        ]
        run, workers, _ = instrumented(lab, 'W1 profile', w1, hosts=3)
        out.append('W1 remote.jobs on 3 hosts (20 x `sleep 2`): playbook wall %.2f s, controller CPU %.2f s, '
                   'target CPU %.2f s.' % (run.wall, run.ctl_cpu, run.tgt_cpu))
        out.append('')
        breakdown(run, workers, out, '### 2. W1 remote.jobs, 3 hosts: worker timers in seconds (means over hosts)')
        builtin = [
            {'name': 'start', 'ansible.builtin.command': 'sleep 2', 'async': 60, 'poll': 0,
             'loop': '{{ range(5) | list }}', 'register': 'started'},
            {'name': 'wait', 'ansible.builtin.async_status': {'jid': '{{ item.ansible_job_id }}'},
             'loop': '{{ started.results }}', 'register': 'st', 'until': 'st.finished', 'retries': 60, 'delay': 1},
        ]
        run_b, workers_b, _ = instrumented(lab, 'W1 built-in profile', builtin, hosts=1)
        breakdown(run_b, workers_b, out, '### 2b. Built-in async, 1 host, 5 x `sleep 2` (for contrast; the loop runs '
                  'in one worker, so its numbers are per task, not per item)')
        w4_profile(lab, out, args.w4_mib)
        w4_profile(lab, out, args.w4_mib, compression=False)
        target_side(lab, out)
        if args.cprofile:
            _, _, folder = instrumented(lab, 'W1 cProfile', w1, hosts=3, cprofile=True)
            top_cprofile(folder, out)
    finally:
        sshd.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    out.append('Profile runtime %.0f s.' % (time.monotonic() - started))
    text = '\n'.join(out) + '\n'
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, 'breakdown.md'), 'w') as handle:
        handle.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
