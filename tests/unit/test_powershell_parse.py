# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every PowerShell file of the collection parses cleanly (tree-sitter-pwsh).

No PowerShell runs here: this is the check that runs on every test run. Pester tests and the Windows workflow
(tests/windows/, .github/workflows/windows.yml) exercise the code on a Windows runner.
"""

from __future__ import annotations

import os

import pytest
import tree_sitter
import tree_sitter_pwsh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_DIRS = frozenset(['.venv', '.build', '.git'])
EXTENSIONS = ('.ps1', '.psm1')


def powershell_files():
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found.extend(os.path.relpath(os.path.join(folder, name), ROOT)
                     for name in sorted(files) if name.lower().endswith(EXTENSIONS))
    return found


FILES = powershell_files()


def problems(source):
    """(line, column, kind, text) of every ERROR and MISSING node in source (bytes)."""
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
    found = []
    todo = [parser.parse(source).root_node]
    while todo:
        node = todo.pop()
        if node.type == 'ERROR' or node.is_missing:
            text = source[node.start_byte:node.end_byte].decode('utf-8', errors='replace').splitlines()
            found.append((node.start_point[0] + 1, node.start_point[1] + 1, 'MISSING' if node.is_missing else 'ERROR',
                          (text[0] if text else node.type)[:80]))
            if node.type == 'ERROR':
                continue
        todo.extend(node.children)
    return sorted(found)


def test_powershell_files_exist():
    assert FILES, 'no .ps1/.psm1 file found under %s: the Windows side of the collection is missing' % ROOT


@pytest.mark.parametrize('path', FILES)
def test_parses_cleanly(path):
    with open(os.path.join(ROOT, path), 'rb') as handle:
        source = handle.read()
    found = problems(source)
    assert not found, '%s does not parse:\n%s' % (path, '\n'.join(
        '  %s:%d:%d: %s near %r' % (path, line, column, kind, text) for line, column, kind, text in found))


def test_parser_reports_errors():
    """The check itself works: a broken script is reported with its line."""
    found = problems(b'$ok = 1\nfunction Broken-Thing {\n    $x = @(1, 2\n')
    assert found and found[0][0] >= 2
