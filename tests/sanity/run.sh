#!/usr/bin/env bash
# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Runs `ansible-test sanity` (or, with --units, `ansible-test units`) on this collection.
#
#   tests/sanity/run.sh                      every sanity test that applies, on Python 3.11
#   tests/sanity/run.sh --test pylint        extra arguments go to ansible-test
#   tests/sanity/run.sh --units              ansible-test units on tests/unit
#
# ansible-test wants the collection at a path ending in ansible_collections/<namespace>/<name> and reads the
# file list from git. The repository root is the collection root, so this copies the files git knows about
# (tracked and untracked-but-not-ignored: `git ls-files -co --exclude-standard`) to a temporary folder, builds
# the collection artifact from them with `ansible-galaxy collection build` (so galaxy.yml's build_ignore applies:
# what is tested is what ships, as when Galaxy's importer runs ansible-test on an uploaded artifact), unpacks it
# at <tmp>/ansible_collections/remote/jobs, makes that a git repository, and runs ansible-test there.
#
# Environment:
#   ANSIBLE_TEST         the ansible-test to run (default: .venv/bin/ansible-test)
#   ANSIBLE_TEST_PYTHON  the Python version to test with (default: 3.11, this machine's python3)
#   ANSIBLE_TEST_HOME    HOME for ansible-test: it keeps one virtual environment per sanity test in
#                        ~/.ansible/test/venv. Default: .build/ansible-test-home, so nothing outside the
#                        repository is touched and later runs reuse those environments.
#   KEEP_TMP=1           keep the temporary copy (its path is printed)
#
# Network: ansible-test pip-installs each sanity test's pinned requirements (pylint, yamllint,
# validate-modules' voluptuous, ...) into those environments, so a package index must be reachable. It also
# bootstraps pip in them with a get-pip.py downloaded from ci-files.testing.ansible.com; when that host cannot
# be reached, tests/sanity/offline_get_pip.py (ensurepip, then pip install) stands in for it.
#
# Tests that need tools this machine may not have are skipped by ansible-test itself, with a warning:
# pslint needs pwsh (PowerShell), shellcheck needs shellcheck (lint.mk installs it through apt when missing).
# validate-modules needs pwsh too, to read the argument spec of a PowerShell module, and fails outright without
# it. So when pwsh is missing (it cannot be installed from the package registries this project's machines reach)
# and no --test was given, validate-modules runs separately on everything but the PowerShell modules
# (plugins/modules/*.ps1 and their .yml docs, plugins/module_utils/*.psm1 and *.cs), with a warning saying so.
# tests/integration/test_docs.py still renders the PowerShell modules' docs with ansible-doc.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ANSIBLE_TEST=${ANSIBLE_TEST:-$ROOT/.venv/bin/ansible-test}
PYTHON_VERSION=${ANSIBLE_TEST_PYTHON:-3.11}
ANSIBLE_TEST_HOME=${ANSIBLE_TEST_HOME:-$ROOT/.build/ansible-test-home}

COMMAND=(sanity)
if [[ ${1:-} == --units ]]; then
    shift
    COMMAND=(units)
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/remote-jobs-ansible-test.XXXXXX")
cleanup() {
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "kept: $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

STAGE=$TMP/stage
DEST=$TMP/ansible_collections/remote/jobs
mkdir -p "$STAGE" "$TMP/artifact" "$DEST"

# Copy what git knows about; skip tracked files that were deleted in the working tree.
(
    cd "$ROOT"
    git ls-files -z -co --exclude-standard | while IFS= read -r -d '' path; do
        if [[ -e $path || -L $path ]]; then
            printf '%s\0' "$path"
        fi
    done | tar --null --no-recursion -T - -cf -
) | tar -xf - -C "$STAGE"

# Build the artifact and unpack it where ansible-test wants the collection.
"$(dirname "$ANSIBLE_TEST")/ansible-galaxy" collection build --output-path "$TMP/artifact" "$STAGE" >/dev/null
tar -xzf "$TMP"/artifact/*.tar.gz -C "$DEST"

git -C "$DEST" init -q
git -C "$DEST" add -A

# pip bootstrap script for ansible-test's per-test virtual environments (see above).
PIP_VERSION=$("$(dirname "$ANSIBLE_TEST")/python" -c '
from ansible_test._internal.python_requirements import get_venv_packages


class Python:
    version = "'"$PYTHON_VERSION"'"


print(get_venv_packages(Python())["pip"])')
GET_PIP=$ANSIBLE_TEST_HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
if [[ ! -s $GET_PIP ]]; then
    mkdir -p "$(dirname "$GET_PIP")"
    URL=https://ci-files.testing.ansible.com/ansible-test/get-pip-$PIP_VERSION.py
    if "$(dirname "$ANSIBLE_TEST")/python" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=20).read())' \
        "$URL" "$GET_PIP.download" 2>/dev/null; then
        mv "$GET_PIP.download" "$GET_PIP"
    else
        rm -f "$GET_PIP.download"
        echo "$URL is unreachable: bootstrapping pip with tests/sanity/offline_get_pip.py instead" >&2
        cp "$ROOT/tests/sanity/offline_get_pip.py" "$GET_PIP"
    fi
fi

cd "$DEST"
run_ansible_test() {
    HOME=$ANSIBLE_TEST_HOME "$ANSIBLE_TEST" "${COMMAND[@]}" --local --python "$PYTHON_VERSION" --color no "$@"
}

if [[ ${COMMAND[0]} == sanity ]] && ! command -v pwsh >/dev/null 2>&1 && [[ " $* " != *" --test "* ]]; then
    # Everything but the PowerShell modules' part of validate-modules (see above).
    rc=0
    run_ansible_test --skip-test validate-modules "$@" || rc=$?
    mapfile -t NOT_POWERSHELL < <(
        git ls-files plugins | while IFS= read -r path; do
            case $path in
                *.ps1 | *.psm1 | *.cs) continue ;;
                plugins/modules/*.yml) [[ -e ${path%.yml}.ps1 ]] && continue ;;
            esac
            printf '%s\n' "$path"
        done
    )
    echo "WARNING: pwsh (PowerShell) is not installed: validate-modules skips the PowerShell modules" >&2
    run_ansible_test --test validate-modules "$@" "${NOT_POWERSHELL[@]}" || rc=$?
    exit "$rc"
fi

run_ansible_test "$@"
