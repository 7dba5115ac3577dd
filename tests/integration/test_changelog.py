# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The changelog (antsibull-changelog): fragments and changelog.yaml lint clean, every fragment is in a release, and
CHANGELOG.rst is what changelog.yaml generates.

While a release is being prepared (galaxy.yml's version is the newest release in changelog.yaml), `make changelog`
(lint.mk) folds new fragments, modules and plugins into it. A fragment left out fails here; a new module or plugin
left out does not (regenerating needs them all to be documented first) - run `make changelog` before a release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
CHANGELOG = os.path.join(BIN, 'antsibull-changelog')
REGENERATE = 'make changelog (lint.mk), or: antsibull-changelog release --version %s --update-existing --reload-plugins --refresh'


def _run(*args, cwd=ROOT):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)  # the copy below is found from its own path
    return subprocess.run([CHANGELOG] + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def _read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def test_fragments_lint_clean():
    proc = _run('lint')
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    fragments = [name for name in os.listdir(os.path.join(ROOT, 'changelogs', 'fragments')) if name.endswith('.yml')]
    assert fragments, 'no changelog fragments'


def test_changelog_yaml_lint_clean():
    proc = _run('lint-changelog-yaml', os.path.join('changelogs', 'changelog.yaml'))
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def _copy_collection(dest):
    """What git knows about (tracked, and untracked but not ignored) -> dest."""
    listed = subprocess.run(['git', 'ls-files', '-z', '-co', '--exclude-standard'], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode('utf-8').split('\0')
    for path in filter(None, listed):
        source = os.path.join(ROOT, path)
        if not os.path.lexists(source):
            continue  # deleted in the working tree
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _galaxy_version():
    with open(os.path.join(ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        return str(yaml.safe_load(handle)['version'])


def _releases():
    with open(os.path.join(ROOT, 'changelogs', 'changelog.yaml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)['releases']


def test_every_fragment_is_released():
    version = _galaxy_version()
    releases = _releases()
    if version not in releases:
        return  # the next release is not being prepared yet: new fragments wait for it
    released = {name for release in releases.values() for name in release.get('fragments') or []}
    pending = sorted(name for name in os.listdir(os.path.join(ROOT, 'changelogs', 'fragments'))
                     if name.endswith('.yml') and name not in released)
    assert not pending, 'fragments not in the %s changelog: %s; run %s' % (version, pending, REGENERATE % version)


def test_changelog_rst_is_generated(tmp_path):
    copy = tmp_path / 'ansible_collections' / 'remote' / 'jobs'
    _copy_collection(str(copy))
    os.remove(str(copy / 'CHANGELOG.rst'))
    proc = _run('generate', cwd=str(copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _read(str(copy / 'CHANGELOG.rst')) == _read(os.path.join(ROOT, 'CHANGELOG.rst')), (
        'CHANGELOG.rst differs from what changelogs/changelog.yaml generates: edit fragments, not CHANGELOG.rst, '
        'and run %s' % (REGENERATE % _galaxy_version()))
