# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module and plugin of the collection renders with ansible-doc, and its docs match its code.

- `ansible-doc -t <type> remote.jobs.<name>` succeeds without warnings for every plugin file found (Windows
  modules through their .yml sidecars), and `ansible-doc --list` lists exactly those plugins.
- Docs use semantic markup: no I() (options are O(), values V(), return values RV()), and every cross reference
  M()/O()/RV() to this collection names a module, option or return value that exists.
- Each Python module's argument spec matches its documented options (type, elements, default, choices,
  required, suboptions), internal options (names starting with "_", which only the action plugin passes) too:
  ansible-test's validate-modules checks the same, and this keeps it checked in the normal test run.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
FQCN = 'remote.jobs'

# plugins/<dir> -> ansible-doc plugin type. Directories without user-facing docs are left out: action plugins
# share their module's docs, module_utils / plugin_utils / doc_fragments are internal.
DOC_TYPES = {
    'modules': 'module',
    'filter': 'filter',
    'test': 'test',
    'callback': 'callback',
    'lookup': 'lookup',
    'inventory': 'inventory',
    'connection': 'connection',
    'become': 'become',
    'cache': 'cache',
    'shell': 'shell',
    'strategy': 'strategy',
    'vars': 'vars',
}


def _plugins():
    """[(type, name)] for every documented plugin file in the repository."""
    found = set()
    for directory, plugin_type in DOC_TYPES.items():
        path = os.path.join(ROOT, 'plugins', directory)
        if not os.path.isdir(path):
            continue
        for filename in os.listdir(path):
            stem, ext = os.path.splitext(filename)
            if stem.startswith('_') or ext not in ('.py', '.ps1'):
                continue
            found.add((plugin_type, stem))
    return sorted(found)


PLUGINS = _plugins()


def _env():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_DEPRECATION_WARNINGS='1')
    env.pop('ANSIBLE_CONFIG', None)
    return env


def _doc(*args):
    return subprocess.run([ANSIBLE_DOC] + list(args), env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


_json_cache = {}


def _json_doc(plugin_type, name):
    key = (plugin_type, name)
    if key not in _json_cache:
        proc = _doc('-t', plugin_type, '--json', '%s.%s' % (FQCN, name))
        assert proc.returncode == 0, proc.stderr
        _json_cache[key] = json.loads(proc.stdout)['%s.%s' % (FQCN, name)]
    return _json_cache[key]


def test_plugins_are_found():
    modules = [name for plugin_type, name in PLUGINS if plugin_type == 'module']
    for verb in ('start', 'info', 'receive', 'wait', 'stop', 'remove'):
        assert verb in modules


@pytest.mark.parametrize('plugin_type,name', PLUGINS, ids=['%s:%s' % p for p in PLUGINS])
def test_ansible_doc_renders(plugin_type, name):
    proc = _doc('-t', plugin_type, '%s.%s' % (FQCN, name))
    assert proc.returncode == 0, proc.stderr
    assert 'WARNING' not in proc.stderr and 'ERROR' not in proc.stderr, proc.stderr
    assert '%s.%s' % (FQCN, name) in proc.stdout
    doc = _json_doc(plugin_type, name)['doc']
    assert doc.get('short_description'), 'short_description is missing'
    assert doc.get('version_added'), 'version_added is missing'


@pytest.mark.parametrize('plugin_type', sorted({plugin_type for plugin_type, _name in PLUGINS}))
def test_ansible_doc_lists(plugin_type):
    proc = _doc('-t', plugin_type, '--list', '--json', FQCN)
    assert proc.returncode == 0, proc.stderr
    assert 'WARNING' not in proc.stderr, proc.stderr
    listed = set(json.loads(proc.stdout))
    expected = {'%s.%s' % (FQCN, name) for t, name in PLUGINS if t == plugin_type}
    assert listed == expected


# --- semantic markup ----------------------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r'\b([A-Z]+)\(([^()]*(?:\([^()]*\)[^()]*)*)\)')


def _texts(value):
    """Every string in a doc structure."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _option_paths(options, prefix=''):
    """'a', 'a[].b', ... for every option and suboption."""
    for name, spec in (options or {}).items():
        path = prefix + name
        yield path
        if isinstance(spec, dict) and spec.get('suboptions'):
            suffix = '[].' if spec.get('type') == 'list' else '.'
            yield from _option_paths(spec['suboptions'], path + suffix)


def _return_paths(returns, prefix=''):
    for name, spec in (returns or {}).items():
        path = prefix + name
        yield path
        if isinstance(spec, dict) and spec.get('contains'):
            suffix = '[].' if spec.get('type') == 'list' else '.'
            yield from _return_paths(spec['contains'], path + suffix)


def _target(reference, plugin_type, name):
    """What an O()/RV() argument refers to: 'remote.jobs.start#module:id=x' -> ('module', 'start', 'id'),
    'jobs[].id' -> (plugin_type, name, 'jobs[].id') (this plugin), another collection's -> None."""
    reference = reference.split('=', 1)[0]
    if '#' not in reference:
        return plugin_type, name, reference
    plugin, rest = reference.split('#', 1)
    other_type, path = rest.split(':', 1)
    if not plugin.startswith(FQCN + '.'):
        return None
    return other_type, plugin[len(FQCN) + 1:], path


@pytest.mark.parametrize('plugin_type,name', PLUGINS, ids=['%s:%s' % p for p in PLUGINS])
def test_semantic_markup(plugin_type, name):
    data = _json_doc(plugin_type, name)
    texts = list(_texts(data['doc'])) + list(_texts(data.get('return') or {}))
    problems = []
    for text in texts:
        for directive, argument in _DIRECTIVE.findall(text):
            if directive == 'I':
                problems.append('I(%s): use O() for options, V() for values' % argument)
            elif directive == 'M' and argument.startswith(FQCN + '.'):
                if ('module', argument[len(FQCN) + 1:]) not in PLUGINS:
                    problems.append('M(%s): no such module in the collection' % argument)
            elif directive in ('O', 'RV'):
                target = _target(argument, plugin_type, name)
                if target is None:
                    continue
                other_type, other, path = target
                if (other_type, other) not in PLUGINS:
                    problems.append('%s(%s): no such plugin in the collection' % (directive, argument))
                    continue
                other_data = _json_doc(other_type, other)
                known = (set(_option_paths(other_data['doc'].get('options'))) if directive == 'O'
                         else set(_return_paths(other_data.get('return'))))
                if path not in known:
                    problems.append('%s(%s): %s has no such %s' % (
                        directive, argument, other, 'option' if directive == 'O' else 'return value'))
    assert not problems, problems


# --- argument spec against the docs ---------------------------------------------------------------------------------

class _Captured(Exception):
    pass


def _argument_spec(name, monkeypatch):
    """The keyword arguments the module builds its AnsibleModule with (what validate-modules reads too)."""
    from ansible.module_utils import basic

    captured = {}

    def fake_init(self, *args, **kwargs):
        captured.update(kwargs)
        if args:
            captured['argument_spec'] = args[0]
        raise _Captured()

    monkeypatch.setattr(basic.AnsibleModule, '__init__', fake_init)
    monkeypatch.setattr(sys, 'argv', ['%s.py' % name])
    with pytest.raises(_Captured):
        runpy.run_module('ansible_collections.remote.jobs.plugins.modules.%s' % name, run_name='__main__')
    return captured['argument_spec']


def _compare(spec, docs, where=''):
    problems = []
    for option, option_spec in sorted(spec.items()):
        path = where + option
        if option not in docs:
            problems.append('%s: not documented' % path)
            continue
        doc = docs[option]
        checks = {
            'type': (option_spec.get('type', 'str'), doc.get('type', 'str')),
            'elements': (option_spec.get('elements'), doc.get('elements')),
            'default': (option_spec.get('default'), doc.get('default')),
            'choices': (sorted(option_spec.get('choices') or []), sorted(doc.get('choices') or [])),
            'required': (bool(option_spec.get('required')), bool(doc.get('required'))),
        }
        for key, (in_spec, in_doc) in checks.items():
            if in_spec != in_doc:
                problems.append('%s: %s is %r in the argument spec but %r in the docs' % (path, key, in_spec, in_doc))
        if option_spec.get('options') or doc.get('suboptions'):
            problems.extend(_compare(option_spec.get('options') or {}, doc.get('suboptions') or {}, path + '.'))
    for option in sorted(set(docs) - set(spec)):
        problems.append('%s%s: documented but not in the argument spec' % (where, option))
    return problems


PY_MODULES = [name for plugin_type, name in PLUGINS
              if plugin_type == 'module' and os.path.exists(os.path.join(ROOT, 'plugins', 'modules', name + '.py'))]


@pytest.mark.parametrize('name', PY_MODULES)
def test_argument_spec_matches_docs(name, monkeypatch):
    spec = _argument_spec(name, monkeypatch)
    problems = _compare(spec, _json_doc('module', name)['doc']['options'])
    assert not problems, problems
