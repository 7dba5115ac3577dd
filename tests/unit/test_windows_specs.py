# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of every win_<verb>.ps1 matches its .yml docs and the POSIX spec of the same verb.

No PowerShell runs here. The module's $spec, and the top-level variables it is built from, are read from the
tree-sitter-pwsh parse tree and evaluated by a small interpreter that knows literal data only: hashtables, arrays
(with PowerShell's @() and unary-comma rules), strings without variables, numbers, $true/$false/$null, and
references to earlier top-level variables ($x, $x.key). Anything else in the spec, or a later change to one of
those variables, fails the test: the spec has to stay data this check can read.

Each option is compared on type, elements, default, choices, required, no_log (POSIX only: docs have no no_log)
and suboptions; the module-level rules (mutually_exclusive, required_one_of, ...) are compared with POSIX too.
The POSIX spec is the one the module is built from: SPECS plus INTERNAL of _args.py, or SPEC plus INTERNAL of
_declare.py for job. Intended Windows differences are listed in WINDOWS_DIFFERENCES, each with its reason.
"""

from __future__ import annotations

import os

import pytest
import tree_sitter
import tree_sitter_pwsh
import yaml

from ansible_collections.remote.jobs.plugins.doc_fragments import _common
from ansible_collections.remote.jobs.plugins.module_utils import _args, _declare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = os.path.join(ROOT, 'plugins', 'modules')
VERBS = ('start', 'info', 'receive', 'wait', 'stop', 'remove', 'job')

# Spec-level keys of Ansible.Basic that a module may set, and those compared with POSIX.
SPEC_KEYS = frozenset(['options', 'mutually_exclusive', 'required_one_of', 'required_together', 'required_if',
                       'required_by', 'supports_check_mode'])
RULE_KEYS = ('mutually_exclusive', 'required_one_of', 'required_together', 'required_if', 'required_by')
# Option keys compared; None means "not set" on both sides.
OPTION_KEYS = ('type', 'elements', 'default', 'choices', 'required', 'no_log')

# Intended differences between a Windows module's spec and the POSIX spec of its verb:
# (verb, dotted option path or rule name, compared key) -> reason. Empty today: every option and every rule of
# the seven verbs is the same on both platforms (Windows differences are in behaviour, documented in the win_*
# docs, not in the arguments). An entry here is the only way to let the two specs differ.
WINDOWS_DIFFERENCES = {}


# --- reading $spec from the parse tree ----------------------------------------------------------------------

class Unsupported(Exception):
    """Something in the spec that is not literal data."""


class _Unreadable:
    """A top-level variable whose value is not literal data: an error only when the spec uses it."""

    def __init__(self, reason):
        self.reason = reason


def _parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))


def _text(node, source):
    return source[node.start_byte:node.end_byte].decode('utf-8')


def _named(node):
    return [child for child in node.named_children if child.type != 'comment']


def _where(node, source, path):
    return '%s:%d: %s' % (os.path.relpath(path, ROOT), node.start_point[0] + 1, _text(node, source).splitlines()[0][:80])


class SpecReader:
    """Evaluates literal PowerShell data in one file."""

    PASS_THROUGH = ('pipeline', 'pipeline_chain', 'unary_expression', 'assignment_value', 'argument_expression',
                    'parenthesized_expression')

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as handle:
            self.source = handle.read()
        self.tree = _parser().parse(self.source)
        self.variables = {}  # lower-case name -> value or _Unreadable
        self.used = set()    # variables the spec was built from

    def fail(self, node, what):
        raise Unsupported('%s (%s)' % (what, _where(node, self.source, self.path)))

    def value(self, node):
        kind = node.type
        if kind in self.PASS_THROUGH:
            children = _named(node)
            if len(children) != 1:
                self.fail(node, 'not a single literal value')
            return self.value(children[0])
        if kind == 'hash_literal_expression':
            return self._hashtable(node)
        if kind == 'array_expression':
            return self._array_expression(node)
        if kind == 'array_literal_expression':
            return [self.value(child) for child in _named(node)]
        if kind == 'expression_with_unary_operator':
            operator = node.children[0].type
            operand = self.value(node.children[1])
            if operator == ',':
                return [operand]
            if operator == '-' and isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand
            self.fail(node, 'unary operator %r' % operator)
        if kind == 'string_literal':
            return self._string(node)
        if kind == 'integer_literal':
            text = _text(node, self.source)
            return int(text, 16) if text.lower().startswith('0x') else int(text)
        if kind == 'real_literal':
            return float(_text(node, self.source))
        if kind == 'variable':
            return self._variable(node)
        if kind == 'member_access':
            return self._member(node)
        return self.fail(node, 'a %s is not literal data' % kind)

    def _hashtable(self, node):
        table = {}
        seen = set()
        for body in _named(node):
            for entry in _named(body):
                if entry.type != 'hash_entry':
                    self.fail(entry, 'unexpected %s in a hashtable' % entry.type)
                key_node = entry.child_by_field_name('key') or _named(entry)[0]
                value_node = _named(entry)[-1]
                key = self._key(key_node)
                if key.lower() in seen:
                    self.fail(entry, 'duplicate key %r (hashtable keys ignore case)' % key)
                seen.add(key.lower())
                table[key] = self.value(value_node)
        return table

    def _key(self, node):
        children = _named(node)
        if node.type == 'key_expression' and len(children) == 1:
            node = children[0]
        if node.type == 'simple_name':
            return _text(node, self.source)
        value = self.value(node)
        if not isinstance(value, str):
            self.fail(node, 'a hashtable key that is not a name or a string')
        return value

    def _array_expression(self, node):
        # @(...): the output of each statement, arrays unrolled one level (so @(, @(1, 2)) is [[1, 2]]).
        items = []
        for statements in _named(node):
            for statement in _named(statements):
                value = self.value(statement)
                if isinstance(value, list):
                    items.extend(value)
                else:
                    items.append(value)
        return items

    def _string(self, node):
        text = _text(node, self.source)
        children = _named(node)
        if len(children) == 1 and children[0].type == 'verbatim_string_characters' and text.startswith("'"):
            return text[1:-1].replace("''", "'")
        if len(children) == 1 and children[0].type == 'expandable_string_literal' and not _named(children[0]):
            return text[1:-1]
        return self.fail(node, 'a string with variables, escapes or a here-string')

    def _variable(self, node):
        name = _text(node, self.source)[1:].lower()
        constants = {'true': True, 'false': False, 'null': None}
        if name in constants:
            return constants[name]
        if name not in self.variables:
            self.fail(node, 'variable $%s is not assigned literal data above' % name)
        value = self.variables[name]
        if isinstance(value, _Unreadable):
            self.fail(node, 'variable $%s is not literal data: %s' % (name, value.reason))
        self.used.add(name)
        return value

    def _member(self, node):
        children = _named(node)
        if len(children) != 2 or children[1].type != 'member_name':
            self.fail(node, 'a member access that is not $variable.key')
        table = self.value(children[0])
        key = _text(children[1], self.source)
        if not isinstance(table, dict):
            self.fail(node, '.%s of something that is not a hashtable' % key)
        matches = [k for k in table if k.lower() == key.lower()]
        if not matches:
            self.fail(node, 'no key %s in that hashtable' % key)
        return table[matches[0]]

    def assignments(self):
        """[(node, variable name or None, operator, top level)] for every assignment in the file, in order.

        The name is set when the assignment is to a plain $variable; top level means a statement of the script
        itself, not inside a function, loop, condition or block."""
        found = []
        todo = [(self.tree.root_node, True)]
        while todo:
            node, top = todo.pop()
            if node.type == 'assignment_expression':
                left = _named(node)[0]
                operator = _text(node.child_by_field_name('operator') or _named(node)[1], self.source)
                target = left
                while target.type in ('left_assignment_expression', 'unary_expression') and len(_named(target)) == 1:
                    target = _named(target)[0]
                name = _text(target, self.source)[1:].lower() if target.type == 'variable' else None
                base = target
                while base.type != 'variable' and _named(base):
                    base = _named(base)[0]
                base_name = _text(base, self.source)[1:].lower() if base.type == 'variable' else None
                found.append((node, name, base_name, operator, top))
            for child in node.children:
                todo.append((child, top and child.type in ('program', 'statement_list', 'pipeline', 'assignment_expression')))
        return sorted(found, key=lambda item: item[0].start_byte)

    def spec(self):
        """The value of the top-level $spec, after checking that nothing changes it or what it was built from."""
        spec_node = None
        spec = None
        defining = {}  # variable -> the assignment that gave it the value the spec was built from
        for node, name, _base, operator, top in self.assignments():
            if spec_node is not None:
                break
            if name is None or not top:
                continue
            if operator != '=':
                self.variables[name] = _Unreadable('assigned with %s' % operator)
                continue
            try:
                value = self.value(_named(node)[-1])
            except Unsupported as exc:
                value = _Unreadable(str(exc))
            if name == 'spec':
                if isinstance(value, _Unreadable):
                    raise Unsupported('$spec is not literal data: %s' % value.reason)
                spec_node, spec = node, value
            else:
                self.variables[name] = value
                defining[name] = node
        if spec_node is None:
            raise Unsupported('no top-level $spec = @{ ... } in %s' % os.path.relpath(self.path, ROOT))
        # Any other write to $spec or to a variable it was built from (a loop merging options into it,
        # $spec.options.x = ..., a second assignment) would make the spec Ansible.Basic gets differ from this one.
        allowed = {defining[name].start_byte for name in self.used if name in defining} | {spec_node.start_byte}
        watched = self.used | {'spec'}
        for node, _name, base, _operator, _top in self.assignments():
            if base in watched and node.start_byte not in allowed:
                raise Unsupported('$%s is changed after it was built (%s): keep the spec literal data'
                                  % (base, _where(node, self.source, self.path)))
        return spec


def windows_spec(verb):
    return SpecReader(os.path.join(MODULES, 'win_%s.ps1' % verb)).spec()


# --- the other two sides --------------------------------------------------------------------------------------

def posix_spec(verb):
    """The spec the POSIX module of the verb is built from: user options plus the internal ones."""
    if verb == 'job':
        spec = dict(_declare.SPEC)
        spec['argument_spec'] = dict(_declare.SPEC['argument_spec'], **_declare.INTERNAL)
    else:
        spec = dict(_args.SPECS[verb])
        spec['argument_spec'] = dict(_args.SPECS[verb]['argument_spec'], **_args.INTERNAL.get(verb, {}))
    return spec


def documented_options(verb):
    """The options of win_<verb>.yml with its doc fragments merged in as ansible-doc merges them."""
    with open(os.path.join(MODULES, 'win_%s.yml' % verb)) as handle:
        doc = yaml.safe_load(handle)['DOCUMENTATION']
    options = doc.get('options') or {}
    fragments = doc.get('extends_documentation_fragment') or []
    if isinstance(fragments, str):
        fragments = fragments.split(',')
    for fragment in fragments:
        name = fragment.strip()
        assert name.startswith('remote.jobs._common'), 'unknown doc fragment %s in win_%s.yml' % (name, verb)
        variable = name[len('remote.jobs._common'):].lstrip('.').upper() or 'DOCUMENTATION'
        fragment_options = yaml.safe_load(getattr(_common.ModuleDocFragment, variable)).get('options') or {}
        for key, value in fragment_options.items():
            # plugin_docs.merge_fragment: the module's own entries win over the fragment's.
            merged = dict(value)
            merged.update(options.get(key) or {})
            options[key] = merged
    return options


# --- normal forms -------------------------------------------------------------------------------------------

def _option(entry, subkey):
    """An option as {key: value} over OPTION_KEYS plus its suboptions, with Ansible's defaults made explicit."""
    entry = dict(entry or {})
    normal = {
        'type': entry.get('type') or 'str',
        'elements': entry.get('elements'),
        'default': entry.get('default'),
        'choices': list(entry['choices']) if entry.get('choices') is not None else None,
        'required': bool(entry.get('required', False)),
        'no_log': bool(entry.get('no_log', False)),
    }
    sub = entry.get(subkey)
    normal['suboptions'] = {name: _option(value, subkey) for name, value in sub.items()} if sub else None
    return normal


def _rules(value):
    """mutually_exclusive, required_one_of, ...: a set of option groups, order ignored."""
    return sorted(sorted(group) if isinstance(group, (list, tuple)) else [group] for group in value or [])


def differences(left, right, left_name, right_name, compare_no_log=True, path=''):
    """[(path, key, left value, right value)] where two normal option maps differ."""
    found = []
    for name in sorted(set(left) | set(right)):
        where = path + name
        if name not in left or name not in right:
            found.append((where, 'present', name in left, name in right))
            continue
        for key in OPTION_KEYS:
            if key == 'no_log' and not compare_no_log:
                continue
            a, b = left[name][key], right[name][key]
            if key == 'default' and isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
                    not isinstance(a, bool) and not isinstance(b, bool):
                a, b = float(a), float(b)
            if a != b:
                found.append((where, key, a, b))
        sub_a, sub_b = left[name]['suboptions'], right[name]['suboptions']
        if (sub_a is None) != (sub_b is None):
            found.append((where, 'suboptions', sub_a is not None, sub_b is not None))
        elif sub_a is not None:
            found.extend(differences(sub_a, sub_b, left_name, right_name, compare_no_log, where + '.'))
    return found


def _report(verb, found, left_name, right_name):
    return 'win_%s: %s and %s differ:\n%s' % (verb, left_name, right_name, '\n'.join(
        '  %s %s: %s has %r, %s has %r' % (where, key, left_name, a, right_name, b) for where, key, a, b in found))


# --- the tests ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('verb', VERBS)
def test_spec_is_literal_data(verb):
    spec = windows_spec(verb)
    assert set(spec) <= SPEC_KEYS, 'win_%s: unknown $spec keys %s' % (verb, sorted(set(spec) - SPEC_KEYS))
    assert spec.get('supports_check_mode') is True, 'win_%s: every verb supports check mode' % verb
    assert spec['options'], 'win_%s: $spec has no options' % verb


@pytest.mark.parametrize('verb', VERBS)
def test_spec_matches_docs(verb):
    ours = {name: _option(entry, 'options') for name, entry in windows_spec(verb)['options'].items()}
    docs = {name: _option(entry, 'suboptions') for name, entry in documented_options(verb).items()}
    found = differences(ours, docs, '$spec', 'win_%s.yml' % verb, compare_no_log=False)
    assert not found, _report(verb, found, '$spec', 'win_%s.yml' % verb)


@pytest.mark.parametrize('verb', VERBS)
def test_spec_matches_posix(verb):
    ours = windows_spec(verb)
    theirs = posix_spec(verb)
    options = {name: _option(entry, 'options') for name, entry in ours['options'].items()}
    posix = {name: _option(entry, 'options') for name, entry in theirs['argument_spec'].items()}
    found = [item for item in differences(options, posix, 'win_%s' % verb, 'POSIX')
             if (verb, item[0], item[1]) not in WINDOWS_DIFFERENCES]
    for rule in RULE_KEYS:
        a, b = _rules(ours.get(rule)), _rules(theirs.get(rule))
        if a != b and (verb, rule, rule) not in WINDOWS_DIFFERENCES:
            found.append((rule, rule, a, b))
    assert not found, _report(verb, found, 'win_%s' % verb, 'POSIX')


def test_listed_differences_are_real():
    """An entry of WINDOWS_DIFFERENCES that no longer differs is stale: remove it."""
    for (verb, where, key), reason in WINDOWS_DIFFERENCES.items():
        assert reason, 'WINDOWS_DIFFERENCES[%r] needs a reason' % ((verb, where, key),)
        ours = {n: _option(e, 'options') for n, e in windows_spec(verb)['options'].items()}
        posix = {n: _option(e, 'options') for n, e in posix_spec(verb)['argument_spec'].items()}
        found = {(w, k) for w, k, _a, _b in differences(ours, posix, 'win', 'POSIX')}
        assert (where, key) in found or key in RULE_KEYS, 'stale WINDOWS_DIFFERENCES entry %r' % ((verb, where, key),)


# --- the checks themselves ------------------------------------------------------------------------------------

def _reader_for(tmp_path, text):
    path = tmp_path / 'win_probe.ps1'
    path.write_text(text)
    return SpecReader(str(path))


def test_reader_follows_powershell_array_rules(tmp_path):
    spec = _reader_for(tmp_path, '''
$choices = @('a', 'b')
$one = @{ type = 'int'; default = -5 }
$spec = @{
    options = @{
        one = $one
        two = @{ type = 'list'; elements = 'str'; choices = $choices; required = $true }
        three = @{ default = 'it''s' }
    }
    mutually_exclusive = @(@('one', 'two'), @('two', 'three'))
    required_one_of = @(, @('one', 'two'))
    required_together = @(@('a'))
    supports_check_mode = $true
}
''').spec()
    assert spec['options']['one'] == {'type': 'int', 'default': -5}
    assert spec['options']['two']['choices'] == ['a', 'b']
    assert spec['options']['three']['default'] == "it's"
    assert spec['mutually_exclusive'] == [['one', 'two'], ['two', 'three']]
    assert spec['required_one_of'] == [['one', 'two']]
    assert spec['required_together'] == ['a']


@pytest.mark.parametrize('text, message', [
    ('$spec = @{ options = @{ a = @{ type = Get-Type } } }', 'not literal data'),
    ('$t = "$x"\n$spec = @{ options = @{ a = @{ type = $t } } }', 'not literal data'),
    ('$spec = @{ options = @{ a = @{ type = $undefined } } }', 'not assigned'),
    ('$o = @{ a = @{} }\n$spec = @{ options = $o }\n$o.b = @{}', 'changed after'),
    ('$o = @{ a = @{} }\nforeach ($k in 1) { $o[$k] = @{} }\n$spec = @{ options = $o }', 'changed after'),
    ('$spec = @{ options = @{ a = @{}; A = @{} } }', 'duplicate key'),
    ('$x = 1', 'no top-level $spec'),
])
def test_reader_refuses_what_it_cannot_read(tmp_path, text, message):
    with pytest.raises(Unsupported, match=message.replace('$', r'\$')):
        _reader_for(tmp_path, text).spec()


def test_differences_are_found():
    """A spec that drifted in any compared key, a suboption or presence is reported."""
    base = {'a': {'type': 'float', 'default': 5, 'options': {'x': {'type': 'str'}}}, 'b': {'type': 'bool'}}
    normal = {n: _option(e, 'options') for n, e in base.items()}
    assert not differences(normal, normal, 'l', 'r')
    assert differences(normal, {n: _option(e, 'options') for n, e in dict(base, a={'type': 'float', 'default': 5.0,
                       'options': {'x': {'type': 'str'}}}).items()}, 'l', 'r') == []
    for drifted in (
            dict(base, b={'type': 'str'}),
            dict(base, b={'type': 'bool', 'default': False}),
            dict(base, b={'type': 'bool', 'required': True}),
            dict(base, b={'type': 'bool', 'no_log': True}),
            dict(base, b={'type': 'list', 'elements': 'int'}),
            dict(base, b={'type': 'bool', 'choices': [True]}),
            dict(base, a={'type': 'float', 'default': 5, 'options': {'x': {'type': 'int'}}}),
            dict(base, a={'type': 'float', 'default': 5}),
            {'a': base['a']},
    ):
        assert differences(normal, {n: _option(e, 'options') for n, e in drifted.items()}, 'l', 'r'), drifted
