# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_JobNative.cs parses as C# (tree-sitter-c-sharp), stays C# 5, and has every member the PowerShell side calls.

No compiler runs here (no dotnet, no mono). On Windows PowerShell 5.1 Ansible compiles the file with csc.exe of
.NET Framework 4.x, which knows C# 5 only, with warnings as errors; PowerShell 7 compiles it with Roslyn. So:

- the file parses with no ERROR or MISSING node;
- it uses no syntax newer than C# 5 (string interpolation, ?., =>-bodied members, out var, patterns, tuples,
  nameof, exception filters, getter-only or initialised auto-properties, ...), which tree-sitter would accept;
- its namespace is the util's name, the one _JobStore.psm1 ($script:Native) and the Pester tests load types from;
- every struct has an explicit [StructLayout] and every [DllImport] method is static extern;
- every static call the PowerShell files make on its types ([type]"...<Class>" then ::Method(...)) names a public
  static method of that class with that many parameters, and every member read from what such a call returns (a
  JobProcess, a SupervisorProcess) is a public member of the returned class.
"""

from __future__ import annotations

import glob
import os
import re

import pytest
import tree_sitter
import tree_sitter_c_sharp
import tree_sitter_pwsh

from test_powershell_parse import error_nodes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CS_FILE = os.path.join(ROOT, 'plugins', 'module_utils', '_JobNative.cs')
NAMESPACE = 'ansible_collections.remote.jobs.plugins.module_utils._JobNative'
PS_FILES = sorted([os.path.join(ROOT, 'plugins', 'module_utils', '_JobStore.psm1')]
                  + glob.glob(os.path.join(ROOT, 'plugins', 'modules', 'win_*.ps1'))
                  + glob.glob(os.path.join(ROOT, 'tests', 'windows', '*.ps1')))

# Syntax tree-sitter-c-sharp accepts that C# 5 (csc.exe of .NET Framework 4.x) does not.
NEWER_THAN_CSHARP5 = {
    'interpolated_string_expression': 'string interpolation $"..." (C# 6)',
    'conditional_access_expression': 'null-conditional ?. (C# 6)',
    'arrow_expression_clause': 'expression-bodied member => (C# 6)',
    'catch_filter_clause': 'exception filter catch ... when (C# 6)',
    'declaration_expression': 'out var / inline declaration (C# 7)',
    'is_pattern_expression': 'pattern matching (C# 7)',
    'declaration_pattern': 'pattern matching (C# 7)',
    'recursive_pattern': 'pattern matching (C# 8)',
    'relational_pattern': 'pattern matching (C# 9)',
    'and_pattern': 'pattern matching (C# 9)',
    'or_pattern': 'pattern matching (C# 9)',
    'negated_pattern': 'pattern matching (C# 9)',
    'list_pattern': 'list pattern (C# 11)',
    'tuple_expression': 'tuple (C# 7)',
    'tuple_type': 'tuple type (C# 7)',
    'discard': 'discard _ (C# 7)',
    'local_function_statement': 'local function (C# 7)',
    'throw_expression': 'throw expression (C# 7)',
    'ref_expression': 'ref local/return (C# 7)',
    'switch_expression': 'switch expression (C# 8)',
    'range_expression': 'range .. (C# 8)',
    'implicit_object_creation_expression': 'target-typed new() (C# 9)',
    'record_declaration': 'record (C# 9)',
    'with_expression': 'with expression (C# 9)',
    'file_scoped_namespace_declaration': 'file-scoped namespace (C# 10)',
    'raw_string_literal': 'raw string literal (C# 11)',
    'collection_expression': 'collection expression [...] (C# 12)',
}


def _cs_parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_c_sharp.language()))


def _ps_parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))


def _walk(node):
    todo = [node]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(reversed(node.children))


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def parse_problems(source):
    """(line, column, kind, text) of every ERROR and MISSING node of C# source (bytes)."""
    return error_nodes(_cs_parser(), source)


def newer_syntax(source):
    """(line, what) of every construct newer than C# 5."""
    found = []
    tree = _cs_parser().parse(source)
    for node in _walk(tree.root_node):
        text = source[node.start_byte:node.end_byte].decode('utf-8')
        if node.type in NEWER_THAN_CSHARP5:
            found.append((node.start_point[0] + 1, NEWER_THAN_CSHARP5[node.type]))
        elif node.type == 'invocation_expression' and re.match(r'nameof\s*\(', text):
            found.append((node.start_point[0] + 1, 'nameof (C# 6)'))
        elif node.type == 'using_directive' and re.match(r'using\s+static\b', text):
            found.append((node.start_point[0] + 1, 'using static (C# 6)'))
        elif node.type == 'property_declaration':
            accessors = [child for child in node.named_children if child.type == 'accessor_list']
            if accessors:
                bodies = [a for a in accessors[0].named_children if a.type == 'accessor_declaration']
                auto = all(source[a.end_byte - 1:a.end_byte] == b';' for a in bodies)
                has_set = any(re.search(r'\bset\b', source[a.start_byte:a.end_byte].decode()) for a in bodies)
                if auto and not has_set:
                    found.append((node.start_point[0] + 1, 'getter-only auto-property (C# 6)'))
                if auto and accessors[0].next_named_sibling is not None:
                    found.append((node.start_point[0] + 1, 'auto-property initializer (C# 6)'))
    return found


# --- the C# side: what it declares --------------------------------------------------------------------------------

class CSharp:
    def __init__(self, source):
        self.source = source
        self.tree = _cs_parser().parse(source)

    def text(self, node):
        return self.source[node.start_byte:node.end_byte].decode('utf-8')

    def modifiers(self, node):
        return {self.text(child) for child in node.named_children if child.type == 'modifier'}

    def namespaces(self):
        return [self.text(node.child_by_field_name('name')) for node in _walk(self.tree.root_node)
                if node.type == 'namespace_declaration']

    def classes(self):
        """{public class name: {'methods': {name: [(static, parameter count, return type)]}, 'properties': set}}."""
        found = {}
        for node in _walk(self.tree.root_node):
            if node.type != 'class_declaration' or 'public' not in self.modifiers(node):
                continue
            members = {'methods': {}, 'properties': set()}
            body = node.child_by_field_name('body')
            for member in body.named_children:
                if 'public' not in self.modifiers(member):
                    continue
                name = self.text(member.child_by_field_name('name'))
                if member.type == 'method_declaration':
                    parameters = [p for p in member.child_by_field_name('parameters').named_children
                                  if p.type == 'parameter']
                    members['methods'].setdefault(name, []).append(
                        ('static' in self.modifiers(member), len(parameters), self.text(member.child_by_field_name('returns'))))
                elif member.type == 'property_declaration':
                    members['properties'].add(name)
            found[self.text(node.child_by_field_name('name'))] = members
        return found


def _csharp():
    return CSharp(_read(CS_FILE))


# --- the PowerShell side: what it calls ---------------------------------------------------------------------------

class PowerShellUse:
    """Static calls on _JobNative types in one PowerShell file, and members read from what they return."""

    TYPE_STRING = re.compile(r'^"\$[\w:]+\.(\w+)"$')

    def __init__(self, path, classes):
        self.path = path
        self.source = _read(path)
        self.tree = _ps_parser().parse(self.source)
        self.classes = classes

    def text(self, node):
        return self.source[node.start_byte:node.end_byte].decode('utf-8')

    def where(self, node):
        return '%s:%d' % (os.path.relpath(self.path, ROOT), node.start_point[0] + 1)

    @staticmethod
    def variable_name(text):
        """$script:Native, $Native and $native are one variable."""
        name = text[1:].lower()
        return name.split(':', 1)[1] if ':' in name else name

    def type_class(self, node):
        """The _JobNative class a node names, for [type]"$prefix.<Class>" (in parentheses or not), else None."""
        while node.type in ('parenthesized_expression', 'pipeline', 'pipeline_chain', 'unary_expression',
                            'expression_with_unary_operator') and len(node.named_children) == 1:
            node = node.named_children[0]
        if node.type != 'cast_expression':
            return None
        cast = node.named_children
        if len(cast) != 2 or self.text(cast[0]).lower() != '[type]':
            return None
        match = self.TYPE_STRING.match(self.text(cast[1]).strip())
        if match and match.group(1) in self.classes:
            return match.group(1)
        return None

    def class_variables(self):
        """{variable: class} for variables assigned [type]"...<Class>" anywhere in the file."""
        found = {}
        for node in _walk(self.tree.root_node):
            if node.type != 'assignment_expression':
                continue
            left, right = node.named_children[0], node.named_children[-1]
            cls = self.type_class(right.named_children[0]) if right.named_children else None
            if cls:
                found[self.variable_name(self.text(left).strip())] = cls
        return found

    def static_calls(self):
        """[(class, method, argument count, node)] of every Class::Method(...) call on a _JobNative type."""
        variables = self.class_variables()
        found = []
        for node in _walk(self.tree.root_node):
            if node.type != 'invocation_expression' or '::' not in [c.type for c in node.children]:
                continue
            target = node.named_children[0]
            if target.type == 'variable':
                cls = variables.get(self.variable_name(self.text(target)))
            else:
                cls = self.type_class(target)
            if cls is None:
                continue
            member = node.child_by_field_name('member')
            if member is None:
                member = [c for c in node.named_children if c.type == 'member_name'][0]
            method = self.text(member)
            arguments = [c for c in node.named_children if c.type == 'argument_list']
            count = 0
            if arguments:
                lists = [c for c in arguments[0].named_children if c.type == 'argument_expression_list']
                count = len([c for c in lists[0].named_children if c.type == 'argument_expression']) if lists else 0
            found.append((cls, method, count, node))
        return found

    def returned_member_uses(self, calls_returning):
        """[(class, member, node)]: $x.Member where $x was last assigned a call returning a _JobNative class.

        Within one function (or the file's top level): the latest assignment before the use decides."""
        scopes = {}
        for node in _walk(self.tree.root_node):
            if node.type == 'assignment_expression':
                scope = self._scope(node)
                left, right = node.named_children[0], node.named_children[-1]
                name = self.variable_name(self.text(left).strip()) if self.text(left).strip().startswith('$') else None
                if name is None or not re.match(r'^[\w:]+$', self.text(left).strip()[1:]):
                    continue
                cls = None
                for call in _walk(right):
                    if call.type == 'invocation_expression' and call.id in calls_returning:
                        cls = calls_returning[call.id]
                        break
                scopes.setdefault(scope, []).append((node.start_byte, name, cls))
        found = []
        for node in _walk(self.tree.root_node):
            if node.type not in ('member_access', 'invocation_expression') or not node.named_children:
                continue
            target = node.named_children[0]
            if target.type != 'variable' or '.' not in [c.type for c in node.children]:
                continue
            name = self.variable_name(self.text(target))
            assigned = [item for item in scopes.get(self._scope(node), []) if item[1] == name and item[0] < node.start_byte]
            if not assigned or assigned[-1][2] is None:
                continue
            member = [c for c in node.named_children if c.type == 'member_name']
            found.append((assigned[-1][2], self.text(member[0]), node))
        return found

    @staticmethod
    def _scope(node):
        while node is not None and node.type != 'function_statement':
            node = node.parent
        return node.start_byte if node is not None else -1


# --- the tests --------------------------------------------------------------------------------------------------

def test_parses_cleanly():
    found = parse_problems(_read(CS_FILE))
    assert not found, '_JobNative.cs does not parse:\n' + '\n'.join(
        '  _JobNative.cs:%d:%d: %s near %r' % item for item in found)


def test_is_csharp5():
    found = newer_syntax(_read(CS_FILE))
    assert not found, '_JobNative.cs uses syntax csc.exe of .NET Framework 4.x (C# 5) cannot compile:\n' + '\n'.join(
        '  _JobNative.cs:%d: %s' % item for item in found)


def test_namespace_is_the_util_name():
    assert _csharp().namespaces() == [NAMESPACE]
    with open(os.path.join(ROOT, 'plugins', 'module_utils', '_JobStore.psm1')) as handle:
        psm1 = handle.read()
    assert "$script:Native = '%s'" % NAMESPACE in psm1
    for path in glob.glob(os.path.join(ROOT, 'tests', 'windows', '*.Tests.ps1')):
        with open(path) as handle:
            text = handle.read()
        if '_JobNative' in text:
            assert "'%s'" % NAMESPACE in text, '%s loads _JobNative types from another namespace' % path


def test_structs_have_a_layout_and_imports_are_static_extern():
    cs = _csharp()
    problems = []
    for node in _walk(cs.tree.root_node):
        attributes = ' '.join(cs.text(c) for c in node.named_children if c.type == 'attribute_list')
        if node.type == 'struct_declaration' and 'StructLayout' not in attributes:
            problems.append('struct %s has no [StructLayout]' % cs.text(node.child_by_field_name('name')))
        if node.type == 'method_declaration' and 'DllImport' in attributes:
            if not {'static', 'extern'} <= cs.modifiers(node):
                problems.append('[DllImport] %s is not static extern' % cs.text(node.child_by_field_name('name')))
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('path', PS_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_powershell_calls_existing_members(path):
    classes = _csharp().classes()
    use = PowerShellUse(path, classes)
    problems = []
    returning = {}
    for cls, method, count, node in use.static_calls():
        overloads = classes[cls]['methods'].get(method, [])
        matching = [o for o in overloads if o[0] and o[1] == count]
        if not matching:
            problems.append('%s: %s::%s with %d argument(s): %s' % (
                use.where(node), cls, method, count,
                'public static overloads take %s' % [o[1] for o in overloads if o[0]] if overloads
                else 'no public static method of that name'))
            continue
        returned = matching[0][2]
        if returned in classes:
            returning[node.id] = returned
    for cls, member, node in use.returned_member_uses(returning):
        if member not in classes[cls]['methods'] and member not in classes[cls]['properties']:
            problems.append('%s: %s has no public member %s' % (use.where(node), cls, member))
    assert not problems, '\n'.join(problems)


def test_the_psm1_uses_the_native_types():
    """The cross-check above sees the psm1's calls (so an empty result is not silently a pass)."""
    classes = _csharp().classes()
    use = PowerShellUse(os.path.join(ROOT, 'plugins', 'module_utils', '_JobStore.psm1'), classes)
    called = {(cls, method) for cls, method, _count, _node in use.static_calls()}
    assert {('NativeProcess', 'StartJobProcess'), ('NativeProcess', 'TerminateJob'), ('CommandLine', 'Join'),
            ('NativeProcess', 'IsProcessAlive')} <= called


# --- the checks themselves ------------------------------------------------------------------------------------

def test_checks_find_problems(tmp_path):
    assert parse_problems(b'class A { void F() { int x = ; } }')
    assert {what for _line, what in newer_syntax(b'''class A {
        public int P { get; }
        public int Q { get; private set; } = 1;
        string F(string s) => $"{s?.Length}";
        void G() { int.TryParse("1", out var n); }
    }''')} >= {'getter-only auto-property (C# 6)', 'auto-property initializer (C# 6)', 'string interpolation $"..." (C# 6)',
               'null-conditional ?. (C# 6)', 'expression-bodied member => (C# 6)', 'out var / inline declaration (C# 7)'}
    assert not newer_syntax(b'class A { public int P { get; private set; } string F() { return null; } }')
    probe = tmp_path / 'probe.ps1'
    probe.write_text('\n'.join([
        'Function Test-Probe {',
        '    $native = [type]"$script:Native.NativeProcess"',
        '    $process = $native::StartJobProcess(1, 2)',
        '    $null = ([type]"$script:Native.CommandLine")::Joins(@())',
        '    $ok = $native::IsProcessAlive(1, "x")',
        '    $started = $native::StartJobProcess(1, "t", $null, "c", $null, @{}, "o", "e", $false, "j")',
        '    $started.Resume()',
        '    $started.Kill()',
        '    $started = Get-Item x',
        '    $started.Kill()',
        '}',
    ]))
    with pytest.raises(AssertionError) as failure:
        test_powershell_calls_existing_members(str(probe))
    message = str(failure.value)
    assert 'NativeProcess::StartJobProcess with 2 argument(s)' in message
    assert 'CommandLine::Joins with 1 argument(s): no public static method' in message
    assert 'probe.ps1:8: JobProcess has no public member Kill' in message
    assert 'IsProcessAlive' not in message and 'Resume' not in message and ':10:' not in message
