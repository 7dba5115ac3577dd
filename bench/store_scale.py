#!/usr/bin/env python3
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the job store scales: a host with 10,000 finished jobs, `info` for one id and for all of them.

Measured, not asserted: prints the times next to the targets (one id under 1 s, all under 5 s), both for the
store alone and for a whole `ansible-playbook` run of remote.jobs.info over the local connection.
Usage: .venv/bin/python bench/store_scale.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
sys.path.insert(0, ROOT)

import tests.conftest  # noqa: E402,F401  (sets up the collection path)
from ansible_collections.remote.jobs.plugins.module_utils import _jobstore as js  # noqa: E402


def fill(root, count):
    """One real finished job, cloned count-1 times under new ids (same files, same sizes)."""
    store = js.JobStore(root)
    (job,) = store.start([{'name': 'scale-0', 'command': 'echo finished'}])
    store.wait([job], timeout=30)
    for i in range(1, count):
        job_id = '%s-%05d' % (job.id, i)
        shutil.copytree(job.dir, os.path.join(root, job_id))
        spec = os.path.join(root, job_id, 'job.json')
        with open(spec) as handle:
            record = json.load(handle)
        record.update(id=job_id, name='scale-%d' % i)
        with open(spec, 'w') as handle:
            json.dump(record, handle)
    return job.id


def timed(func):
    started = time.monotonic()
    value = func()
    return time.monotonic() - started, value


def playbook_info(root, args):
    playbook = os.path.join(os.path.dirname(root), 'info.yml')
    with open(playbook, 'w') as handle:
        json.dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
            {'remote.jobs.info': dict(args, job_root=root), 'register': 'r'},
            {'ansible.builtin.debug': {'msg': '{{ r.jobs | length }}'}}]}], handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', os.path.join(ROOT, 'inventory', 'localhost.yml'),
           playbook]
    seconds, proc = timed(lambda: subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    assert proc.returncode == 0, proc.stdout.decode()
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=10000)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix='rj-scale-')
    try:
        root = os.path.join(base, 'root')
        fill_s, first_id = timed(lambda: fill(root, args.jobs))
        store = js.JobStore(root)
        one_s, one = timed(lambda: [j.view() for j in store.select(ids=[first_id + '-00042'])])
        all_s, every = timed(lambda: [j.view() for j in store.select()])
        assert len(one) == 1 and len(every) == args.jobs
        pb_empty = playbook_info(root, {'id': 'no-such-job'})
        pb_one = playbook_info(root, {'id': first_id + '-00042'})
        pb_all = playbook_info(root, {})
        rows = [
            ('store: info for one id', one_s, 1.0),
            ('store: info for all', all_s, 5.0),
            ('ansible-playbook: info for one id (whole run)', pb_one, 1.0 + pb_empty),
            ('ansible-playbook: info for all (whole run)', pb_all, 5.0 + pb_empty),
        ]
        print('%d finished jobs (made in %.1f s); a playbook run that finds nothing takes %.2f s of fixed cost\n'
              % (args.jobs, fill_s, pb_empty))
        print('| measurement | seconds | target | |')
        print('|---|---|---|---|')
        for label, seconds, target in rows:
            print('| %s | %.3f | < %.2f | %s |' % (label, seconds, target, 'PASS' if seconds < target else 'FAIL'))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
