# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PowerShell files call only functions that exist, read from the tree-sitter-pwsh parse tree.

No PowerShell runs here, so a misspelt or unexported function would only show on a Windows host. Checked:

- every function Export-ModuleMember names in _JobStore.psm1 is defined there, once, with comment-based help and an
  approved verb; every Verb-Noun command the psm1 calls is one of its functions or a known cmdlet;
- every Verb-Noun command a win_*.ps1 module (or a Pester test) calls is defined in that file, exported by the
  psm1, or a known cmdlet (a Pester test may also call what TestSupport.ps1 defines, Ansible's Add-CSharpType, and
  private psm1 functions inside `& (Get-Module -Name _JobStore) { ... }`); each module starts through
  New-RemoteJobModule with its own verb and declares the utils it needs with #AnsibleRequires lines that name
  files of this collection;
- the supervisor's functions ($SupervisorFunctions, shipped as text to a plain powershell.exe) call only each
  other and cmdlets, and use no module variable ($script:...) and no compiled type of _JobNative.cs.
"""

from __future__ import annotations

import glob
import os
import re

import pytest
import tree_sitter
import tree_sitter_pwsh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PSM1 = os.path.join(ROOT, 'plugins', 'module_utils', '_JobStore.psm1')
MODULES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', 'win_*.ps1')))
PESTER = sorted(glob.glob(os.path.join(ROOT, 'tests', 'windows', '*.ps1')))
# Dot-sourced by the Pester test files: its functions are theirs too.
TEST_SUPPORT = os.path.join(ROOT, 'tests', 'windows', 'TestSupport.ps1')

VERB_NOUN = re.compile(r'^[A-Za-z]+-[A-Za-z]+$')
# Cmdlets of Windows PowerShell 5.1 and PowerShell 7 (and Pester's keywords in tests) the code may call. A command
# that is neither defined by us nor listed here fails the test: add it here only if it really is a cmdlet.
CMDLETS = frozenset([
    'Add-Member', 'Add-Type', 'ConvertFrom-Json', 'ConvertTo-Json', 'Export-ModuleMember', 'ForEach-Object', 'Get-Acl',
    'Get-ChildItem', 'Get-CimInstance', 'Get-Command', 'Get-Content', 'Get-FileHash', 'Get-Item', 'Get-Module',
    'Get-Process', 'Import-Module', 'Invoke-CimMethod', 'Join-Path', 'New-CimInstance', 'New-Item', 'New-Object',
    'Remove-Item', 'Remove-Module', 'Remove-Variable', 'Select-Object', 'Set-Acl', 'Set-Content', 'Set-Variable',
    'Sort-Object', 'Split-Path', 'Start-Process', 'Start-Sleep', 'Stop-Process', 'Test-Path', 'Where-Object',
    'Write-Output', 'Write-Warning',
])
PESTER_KEYWORDS = frozenset(['AfterAll', 'AfterEach', 'BeforeAll', 'BeforeDiscovery', 'BeforeEach', 'Context', 'Describe', 'It',
                             'Should'])
# Functions of Ansible's own module utils the Pester tests load (tests/windows/TestSupport.ps1).
ANSIBLE_UTIL_FUNCTIONS = frozenset(['Add-CSharpType'])
# A call inside `& (Get-Module -Name _JobStore) { ... }` runs in the psm1's scope, where private functions exist.
IN_MODULE_SCOPE = re.compile(r'^&\s*\(\s*Get-Module\b[^)]*_JobStore')
# Get-Verb of PowerShell 7: the verbs a function name may start with.
APPROVED_VERBS = frozenset('''
Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop Push Redo Remove Rename Reset
Resize Search Select Set Show Skip Split Step Switch Undo Unlock Watch Connect Disconnect Read Receive Send Write
Backup Checkpoint Compare Compress Convert ConvertFrom ConvertTo Dismount Edit Expand Export Group Import Initialize
Limit Merge Mount Out Publish Restore Save Sync Unpublish Update Approve Assert Build Complete Confirm Deny Deploy
Disable Enable Install Invoke Register Request Restart Resume Start Stop Submit Suspend Uninstall Unregister Wait Debug
Measure Ping Repair Resolve Test Trace Block Grant Protect Revoke Unblock Unprotect Use
'''.split())
REQUIRES = re.compile(r'(?im)^#\s*AnsibleRequires\s+-(CSharpUtil|PowerShell)\s+(\S+)')
COLLECTION_UTIL = 'ansible_collections.remote.jobs.plugins.module_utils.'


def _parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))


class Script:
    """One PowerShell file and what its parse tree says it defines and calls."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as handle:
            self.source = handle.read()
        self.tree = _parser().parse(self.source)

    def text(self, node):
        return self.source[node.start_byte:node.end_byte].decode('utf-8')

    def where(self, node):
        return '%s:%d' % (os.path.relpath(self.path, ROOT), node.start_point[0] + 1)

    def nodes(self, kind, within=None):
        todo = [within or self.tree.root_node]
        while todo:
            node = todo.pop()
            if node.type == kind:
                yield node
            todo.extend(reversed(node.children))

    def functions(self):
        """{name: [function_statement node, ...]}."""
        found = {}
        for node in self.nodes('function_statement'):
            name = self.text(node.child_by_field_name('name') or next(self.nodes('function_name', node)))
            found.setdefault(name, []).append(node)
        return found

    def calls(self, within=None):
        """[(command name, node)] of every command invoked by name."""
        return [(self.text(node), node) for node in self.nodes('command_name', within)]

    def in_psm1_scope(self, node):
        """True inside the script block of `& (Get-Module -Name _JobStore) { ... }`."""
        while node is not None:
            if node.type == 'command' and IN_MODULE_SCOPE.match(self.text(node)):
                return True
            node = node.parent
        return False

    def strings(self, node):
        return [self.text(s)[1:-1] for s in self.nodes('verbatim_string_characters', node)]


def _psm1():
    return Script(PSM1)


def _exported(psm1):
    for name, node in psm1.calls():
        if name == 'Export-ModuleMember':
            return psm1.strings(node.parent)
    return []


def _supervisor_functions(psm1):
    for node in psm1.nodes('assignment_expression'):
        if psm1.text(node).startswith('$script:SupervisorFunctions'):
            return psm1.strings(node)
    return []


# --- _JobStore.psm1 --------------------------------------------------------------------------------------------

def test_psm1_exports_defined_functions():
    psm1 = _psm1()
    defined = psm1.functions()
    exported = _exported(psm1)
    assert exported, 'no Export-ModuleMember -Function list found in _JobStore.psm1'
    missing = sorted(set(exported) - set(defined))
    assert not missing, 'exported but not defined in _JobStore.psm1: %s' % ', '.join(missing)
    twice = sorted(name for name in exported if exported.count(name) > 1)
    assert not twice, 'exported twice: %s' % ', '.join(twice)


def test_psm1_functions_are_defined_once_with_help_and_an_approved_verb():
    psm1 = _psm1()
    problems = []
    for name, nodes in sorted(psm1.functions().items()):
        if len(nodes) > 1:
            problems.append('%s defined %d times (%s)' % (name, len(nodes), ', '.join(psm1.where(n) for n in nodes)))
        verb, _dash, noun = name.partition('-')
        if verb not in APPROVED_VERBS:
            problems.append('%s: %s is not an approved verb (Get-Verb)' % (name, verb))
        if not noun.startswith('RemoteJob'):
            problems.append('%s: the noun should carry the collection prefix RemoteJob' % name)
        body = psm1.text(nodes[0])
        if not re.search(r'<#\s*\.SYNOPSIS', body):
            problems.append('%s has no comment-based help (<# .SYNOPSIS ... #>)' % name)
    assert not problems, '\n'.join(problems)


def test_psm1_calls_only_its_own_functions_and_cmdlets():
    psm1 = _psm1()
    defined = set(psm1.functions())
    unknown = ['%s: %s' % (psm1.where(node), name) for name, node in psm1.calls()
               if VERB_NOUN.match(name) and name not in defined and name not in CMDLETS]
    assert not unknown, 'called in _JobStore.psm1 but neither defined there nor a known cmdlet:\n' + '\n'.join(unknown)


def test_supervisor_functions_are_self_contained():
    """The supervisor is a plain powershell.exe that gets these functions as text: nothing else exists there."""
    psm1 = _psm1()
    listed = _supervisor_functions(psm1)
    assert listed, '$script:SupervisorFunctions not found in _JobStore.psm1'
    defined = psm1.functions()
    problems = ['%s is listed but not defined' % name for name in listed if name not in defined]
    for name in listed:
        for node in defined.get(name, []):
            for called, where in psm1.calls(node):
                if VERB_NOUN.match(called) and called not in listed and called not in CMDLETS:
                    problems.append('%s calls %s (%s), which the supervisor does not have' % (name, called, psm1.where(where)))
            for variable in psm1.nodes('variable', node):
                if psm1.text(variable).lower().startswith('$script:'):
                    problems.append('%s uses the module variable %s (%s)' % (name, psm1.text(variable), psm1.where(variable)))
            for type_node in psm1.nodes('type_literal', node):
                if '_JobNative' in psm1.text(type_node) or 'ansible_collections' in psm1.text(type_node):
                    problems.append('%s uses compiled code %s (%s)' % (name, psm1.text(type_node), psm1.where(type_node)))
    assert not problems, '\n'.join(problems)


# --- the modules and the Pester tests ------------------------------------------------------------------------

@pytest.mark.parametrize('path', MODULES + PESTER, ids=lambda p: os.path.relpath(p, ROOT))
def test_calls_resolve(path):
    script = Script(path)
    psm1 = _psm1()
    exported = set(_exported(psm1))
    private = set(psm1.functions()) - exported
    local = set(script.functions())
    if path in PESTER and os.path.basename(TEST_SUPPORT) in script.source.decode('utf-8'):
        local |= set(Script(TEST_SUPPORT).functions())
    allowed = CMDLETS | (PESTER_KEYWORDS | ANSIBLE_UTIL_FUNCTIONS if path in PESTER else frozenset())
    problems = []
    for name, node in script.calls():
        if not VERB_NOUN.match(name) and name not in allowed:
            continue
        if name in local or name in exported or name in allowed:
            continue
        if name in private and path in PESTER and script.in_psm1_scope(node):
            continue
        if name in private:
            problems.append('%s: %s is defined in _JobStore.psm1 but not exported' % (script.where(node), name))
        else:
            problems.append('%s: %s is defined nowhere (not here, not in _JobStore.psm1, not a known cmdlet)'
                            % (script.where(node), name))
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('path', MODULES, ids=os.path.basename)
def test_module_local_functions_use_approved_verbs(path):
    script = Script(path)
    bad = [name for name in script.functions() if name.partition('-')[0] not in APPROVED_VERBS]
    assert not bad, '%s: functions without an approved verb: %s' % (os.path.basename(path), ', '.join(bad))


@pytest.mark.parametrize('path', MODULES, ids=os.path.basename)
def test_module_starts_through_new_remotejobmodule(path):
    script = Script(path)
    verb = os.path.basename(path)[len('win_'):-len('.ps1')]
    starts = [node for name, node in script.calls() if name == 'New-RemoteJobModule']
    assert len(starts) == 1, '%s calls New-RemoteJobModule %d times, not once' % (os.path.basename(path), len(starts))
    call = script.text(starts[0].parent)
    assert re.search(r"-Verb\s+'%s'(\s|$)" % verb, call), '%s: New-RemoteJobModule must get -Verb %r: %s' % (
        os.path.basename(path), verb, call)
    assert re.search(r'-Arguments\s+\$args\b', call) and re.search(r'-Spec\s+\$spec\b', call), call
    assert 'AnsibleModule]::Create' not in script.source.decode('utf-8'), (
        '%s creates its Ansible.Basic module itself: New-RemoteJobModule does that' % os.path.basename(path))


@pytest.mark.parametrize('path', MODULES + [PSM1], ids=os.path.basename)
def test_ansible_requires_name_real_utils(path):
    with open(path) as handle:
        text = handle.read()
    required = REQUIRES.findall(text)
    problems = []
    for kind, name in required:
        extension = '.cs' if kind.lower() == 'csharputil' else '.psm1'
        if name.startswith(COLLECTION_UTIL):
            util = name[len(COLLECTION_UTIL):]
        elif name.startswith('.'):
            util = name[1:]
        elif name == 'Ansible.Basic' and extension == '.cs':
            continue
        else:
            problems.append('%s: unexpected util %s' % (kind, name))
            continue
        if not os.path.isfile(os.path.join(ROOT, 'plugins', 'module_utils', util + extension)):
            problems.append('#AnsibleRequires -%s %s: no plugins/module_utils/%s%s' % (kind, name, util, extension))
    if path in MODULES:
        names = {name for _kind, name in required}
        for needed in ('Ansible.Basic', COLLECTION_UTIL + '_JobStore'):
            if needed not in names:
                problems.append('missing #AnsibleRequires for %s' % needed)
    assert not problems, '%s:\n%s' % (os.path.basename(path), '\n'.join(problems))


# --- the checks themselves ------------------------------------------------------------------------------------

def test_an_unknown_call_is_found(tmp_path):
    probe = tmp_path / 'win_probe.ps1'
    probe.write_text('$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb probe\n'
                     '$jobs = @(Select-RemoteJobs -Store $store)\nGet-RemoteJobFileSize -Path x\n')
    with pytest.raises(AssertionError) as failure:
        test_calls_resolve(str(probe))
    assert 'Select-RemoteJobs is defined nowhere' in str(failure.value)
    assert 'Get-RemoteJobFileSize is defined in _JobStore.psm1 but not exported' in str(failure.value)
