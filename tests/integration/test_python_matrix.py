# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The POSIX modules on every supported target Python (3.8 - 3.13): the core scenario against each interpreter."""

from __future__ import annotations

import glob
import os
import subprocess
import uuid

import pytest

from tests.integration.conftest import Lab

VERSIONS = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13']


def interpreter(version):
    """A python<version> on this machine: pyenv's, else one on PATH."""
    roots = [os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')]
    for root in roots:
        for candidate in sorted(glob.glob(os.path.join(root, 'versions', version + '.*', 'bin', 'python' + version))):
            return candidate
    for folder in os.environ.get('PATH', '').split(os.pathsep):
        candidate = os.path.join(folder, 'python' + version)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.mark.parametrize('version', VERSIONS)
def test_core_scenario_on_target_python(sshd, tmp_path, version):
    python = interpreter(version)
    if not python:
        pytest.skip('no Python %s on this machine (pyenv install %s to run it)' % (version, version))
    out = subprocess.run([python, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                         stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    assert out == version
    lab = Lab(sshd, str(tmp_path), python=python)
    name = 'py-' + uuid.uuid4().hex[:6]
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'jobs': [
            {'name': name + '-ok', 'command': 'echo "€ works"; echo warn >&2'},
            {'name': name + '-long', 'argv': ['sleep', '60'], 'env': {'K': 'v'}},
            {'name': name + '-short', 'command': 'sleep 30', 'timeout': 0.5}]}},
        {'name': 'wait', 'remote.jobs.wait': {'name': [name + '-ok', name + '-short'], 'timeout': 60}},
        {'name': 'receive', 'remote.jobs.receive': {'name': name + '-ok'}},
        {'name': 'info', 'remote.jobs.info': {'name': name + '-*'}},
        {'name': 'stop', 'remote.jobs.stop': {'name': name + '-long', 'grace': 1}},
        {'name': 'remove', 'remote.jobs.remove': {'name': name + '-*'}},
        {'name': 'python', 'ansible.builtin.command': 'echo {{ ansible_python_interpreter }}'},
    ], hosts='h1')
    assert run.rc == 0, run.output
    assert run.result('python')['stdout'] == python
    received = run.result('receive')
    assert (received['state'], received['stdout'], received['stderr']) == ('completed', '€ works\n', 'warn\n')
    states = {j['name']: (j['state'], j['reason']) for j in run.result('info')['jobs']}
    assert states == {name + '-ok': ('completed', 'exit'), name + '-long': ('running', None),
                      name + '-short': ('stopped', 'timeout')}
    assert (run.result('stop')['state'], run.result('stop')['reason']) == ('stopped', 'stop')
    assert len(run.result('remove')['jobs']) == 3 and lab.job_dirs('h1') == []
