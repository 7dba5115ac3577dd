# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: `ansible-galaxy collection build` from this working tree (so galaxy.yml's
build_ignore is tested against the real clutter: .venv, .build, tests/output, job_results, ...), installed with
`ansible-galaxy collection install -p` into an empty folder, and the demo playbook run from that installed copy
only. And as an execution environment gets it: ansible-builder finds pywinrm through meta/execution-environment.yml,
and the EE definition in docs/scale.md makes a build context.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

# Never in the artifact: local state of a checkout and developer tooling (build_ignore in galaxy.yml, or
# ansible-galaxy's own rules).
FORBIDDEN_TOP = ('.venv', '.build', '.git', '.ci', '.pytest_cache', 'job_results', 'bench')
FORBIDDEN_PREFIXES = ('tests/output/', 'changelogs/.plugin-cache.yaml')
REQUIRED = (
    'MANIFEST.json', 'FILES.json', 'README.md', 'CHANGELOG.rst', 'changelogs/changelog.yaml', 'meta/runtime.yml',
    'plugins/modules/start.py', 'plugins/action/start.py', 'plugins/module_utils/_jobstore.py',
    'plugins/plugin_utils/_action.py', 'plugins/doc_fragments/_common.py', 'playbooks/demo.yml',
    'inventory/localhost.yml',
)


def _env(**extra):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_STDOUT_CALLBACK='default', ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False')
    for key in ('ANSIBLE_CONFIG', 'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_COLLECTIONS_PATHS', 'ANSIBLE_INVENTORY',
                'ANSIBLE_CALLBACKS_ENABLED'):
        env.pop(key, None)
    env.update(extra)
    return env


def _run(args, cwd, timeout=300, **env):
    proc = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, '%s failed (rc %d):\n%s\n%s' % (
        ' '.join(args), proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    with open(os.path.join(ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        galaxy = yaml.safe_load(handle)
    out = tmp_path_factory.mktemp('build')
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out), ROOT], cwd=str(out))
    path = out / ('%s-%s-%s.tar.gz' % (galaxy['namespace'], galaxy['name'], galaxy['version']))
    assert path.is_file(), sorted(os.listdir(str(out)))
    return path


def test_tarball_holds_the_collection_and_no_local_state(tarball):
    with tarfile.open(str(tarball)) as archive:
        names = [name[2:] if name.startswith('./') else name for name in archive.getnames()]
        files = json.load(archive.extractfile('FILES.json'))['files']
    for required in REQUIRED:
        assert required in names, '%s is missing from the tarball' % required
    leaked = [name for name in names
              if name.split('/')[0] in FORBIDDEN_TOP or name.startswith(FORBIDDEN_PREFIXES)
              or '/__pycache__/' in '/' + name + '/' or name.endswith(('.pyc', '.tar.gz'))]
    assert not leaked, 'local state in the tarball (extend build_ignore in galaxy.yml): %s' % leaked[:20]
    assert {entry['name'] for entry in files} >= set(REQUIRED) - {'MANIFEST.json', 'FILES.json'}


@pytest.fixture(scope='module')
def collections(tarball, tmp_path_factory):
    """An empty collections path with the tarball installed in it."""
    path = tmp_path_factory.mktemp('install') / 'collections'
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(path), str(tarball)],
         cwd=str(path.parent), ANSIBLE_COLLECTIONS_PATH=str(path))
    assert (path / 'ansible_collections' / 'remote' / 'jobs' / 'MANIFEST.json').is_file()
    return path


def test_installed_collection_runs_the_demo(collections, tmp_path):
    installed = collections / 'ansible_collections' / 'remote' / 'jobs'

    # Only the installed copy is visible: not this checkout (.build/collections), not site-packages.
    listed = _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'list', '--format', 'json', 'remote.jobs'],
                  cwd=str(tmp_path), ANSIBLE_COLLECTIONS_PATH=str(collections))
    assert list(json.loads(listed.stdout)) == [str(collections / 'ansible_collections')], listed.stdout

    # The demo, addressed by its FQCN (so it is the installed playbook), on the installed default inventory, with
    # its own job root so nothing else on this machine is touched.
    job_root = tmp_path / 'jobs'
    run = _run([os.path.join(BIN, 'ansible-playbook'), '-i', str(installed / 'inventory' / 'localhost.yml'),
                'remote.jobs.demo', '-e', 'remote_jobs_root=%s' % job_root],
               cwd=str(tmp_path), timeout=600, ANSIBLE_COLLECTIONS_PATH=str(collections))
    assert 'failed=0' in run.stdout and 'unreachable=0' in run.stdout, run.stdout
    assert 'ok=' in run.stdout and 'localhost' in run.stdout
    # What may stay is the compiled-code cache of the direct path (localhost pipelines), never a job.
    assert [entry for entry in os.listdir(str(job_root)) if entry != '.code'] == [], 'the demo removes its jobs'


# --- execution environment ------------------------------------------------------------------------------------------

def test_ee_metadata_is_ansible_builder_v3():
    from ansible_builder.ee_schema import validate_schema

    with open(os.path.join(ROOT, 'meta', 'execution-environment.yml'), encoding='utf-8') as handle:
        definition = yaml.safe_load(handle)
    assert definition['version'] == 3
    validate_schema(definition)  # raises DefinitionError


def test_ee_introspection_of_the_installed_collection_finds_pywinrm(collections):
    proc = _run([os.path.join(BIN, 'ansible-builder'), 'introspect', str(collections)], cwd=str(collections))
    data = yaml.safe_load(proc.stdout.split('---', 1)[1])
    packages = [re.split(r'[<>=!~ ;\[]', line, maxsplit=1)[0].lower() for line in data['python']]
    assert 'pywinrm' in packages, proc.stdout
    assert 'ansible-core' not in packages, proc.stdout


def _docs_ee_definition():
    with open(os.path.join(ROOT, 'docs', 'scale.md'), encoding='utf-8') as handle:
        blocks = re.findall(r'```yaml\n(.*?)```', handle.read(), re.S)
    definitions = [block for block in blocks if re.search(r'^version: 3$', block, re.M)]
    assert len(definitions) == 1, 'docs/scale.md should hold one EE definition (a yaml block with version: 3)'
    return definitions[0]


def test_ee_definition_in_the_docs_makes_a_build_context(tarball, tmp_path):
    ee = tmp_path / 'ee'
    ee.mkdir()
    shutil.copy(str(tarball), str(ee))
    (ee / 'execution-environment.yml').write_text(_docs_ee_definition(), encoding='utf-8')
    _run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', str(ee / 'execution-environment.yml'),
          '--context', str(tmp_path / 'context')], cwd=str(ee))
    build = tmp_path / 'context' / '_build'
    assert (build / 'collections' / tarball.name).is_file(), 'the EE definition in docs/scale.md names another tarball'
    requirements = yaml.safe_load((build / 'requirements.yml').read_text(encoding='utf-8'))
    assert {'name': 'collections/%s' % tarball.name, 'type': 'file'} in requirements['collections']
