# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every PowerShell file of the collection parses cleanly (tree-sitter-pwsh), and keeps pslint's layout rules.

No PowerShell runs here: this is the check that runs on every test run. Pester tests and the Windows workflow
(tests/windows/, .github/workflows/windows.yml) exercise the code on a Windows runner. ansible-test's pslint
(PSScriptAnalyzer) needs pwsh, so the layout rules of its settings that a parse tree can check are checked here:
lines of at most 160 characters, no tabs or trailing white space, no semicolon ending a line, an opening brace on
the line of its statement, and else/elseif/catch/finally on the line after a closing brace; and one default rule
that catches real bugs, PSPossibleIncorrectComparisonWithNull: $null goes on the left of -eq/-ne ($array -eq $null
filters the array instead of testing it).
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
    return error_nodes(tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language())), source)


def error_nodes(parser, source):
    """(line, column, kind, text) of every ERROR and MISSING node when parser (any tree-sitter grammar) parses
    source (bytes). test_windows_csharp.py uses it for the C# file."""
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


MAX_LINE = 160
NEXT_LINE_KEYWORDS = ('else', 'elseif', 'catch', 'finally')


def layout_problems(source):
    """(line, problem) for pslint's layout rules that hold for the whole file (source: bytes)."""
    found = []
    text = source.decode('utf-8')
    lines = text.split('\n')
    for number, line in enumerate(lines, 1):
        line = line.rstrip('\r')
        if len(line) > MAX_LINE:
            found.append((number, 'longer than %d characters (%d)' % (MAX_LINE, len(line))))
        if '\t' in line:
            found.append((number, 'a tab (indent with 4 spaces)'))
        if line != line.rstrip():
            found.append((number, 'trailing white space'))
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
    todo = [parser.parse(source).root_node]
    while todo:
        node = todo.pop()
        todo.extend(node.children)
        if node.child_count:
            continue
        row, column = node.start_point
        line = lines[row].rstrip('\r')
        before, after = line[:column], line[node.end_point[1]:] if node.end_point[0] == row else ''
        # A block on one line ({ ... } | Should ..., if ($x) { 1 } else { 2 }) is left alone, as pslint does.
        one_line = node.type in ('{', '}') and node.parent is not None and \
            node.parent.start_point[0] == node.parent.end_point[0]
        if node.type == ';' and (not after.strip() or after.strip().startswith('#')):
            found.append((row + 1, 'a semicolon ends the line'))
        elif one_line:
            continue
        elif node.type == '{' and not before.strip():
            found.append((row + 1, 'an opening brace on a line of its own (keep it on the line of its statement)'))
        elif node.type == '}' and after.strip().split(' ')[0].lower() in NEXT_LINE_KEYWORDS:
            found.append((row + 1, '%s after a closing brace (put it on the next line)' % after.strip().split(' ')[0]))
        elif node.type == 'comparison_operator' or (node.parent is not None and node.parent.type == 'comparison_operator'):
            comparison = node.parent if node.type != 'comparison_operator' else node
            comparison = comparison.parent
            operator = line[column:node.end_point[1]].lower()
            right = comparison.named_children[-1] if comparison is not None and comparison.named_children else None
            if operator.lstrip('-').lstrip('ci') in ('eq', 'ne') and right is not None and \
                    source[right.start_byte:right.end_byte].strip().lower() == b'$null':
                found.append((row + 1, '$null on the right of %s (put it on the left)' % operator))
    return sorted(set(found))


@pytest.mark.parametrize('path', FILES)
def test_layout(path):
    with open(os.path.join(ROOT, path), 'rb') as handle:
        found = layout_problems(handle.read())
    assert not found, '%s breaks the layout rules of pslint:\n%s' % (path, '\n'.join(
        '  %s:%d: %s' % (path, line, problem) for line, problem in found))


def test_layout_check_reports_problems():
    source = (b'$a = 1;\nif ($a -eq $null)\n{\n    $b = @{ x = 1; y = 2 }\n} else {\n\t$c = 3 \n}\n$d = "' + b'x' * 160 + b'"\n'
              b'$ok = $null -ne $a\n')
    problems = {problem.split(' (')[0] for _line, problem in layout_problems(source)}
    assert problems == {'a semicolon ends the line', 'an opening brace on a line of its own', 'else after a closing brace',
                        'a tab', 'trailing white space', 'longer than 160 characters', '$null on the right of -eq'}, problems
