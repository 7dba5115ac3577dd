# remote.jobs - lint targets. Included from the Makefile (`include lint.mk`), which defines VENV, BIN, the venv
# target, and exports ANSIBLE_COLLECTIONS_PATH (.build/collections, where the repository is ansible_collections/
# remote/jobs) through which ansible-lint and antsibull-changelog find the collection.
#
#   make lint              ansible-test sanity + ansible-lint (production profile) + antsibull-changelog lint
#   make lint-sanity       ansible-test sanity only (tests/sanity/run.sh; extra arguments: SANITY_ARGS=...)
#   make lint-ansible      ansible-lint only (configuration: .ansible-lint)
#   make lint-changelog    antsibull-changelog lint of the fragments and of changelogs/changelog.yaml
#   make changelog         fold new fragments, modules and plugins into the release galaxy.yml names
#                          (while it is being prepared), and regenerate CHANGELOG.rst
#   make units-ansible-test  tests/unit under `ansible-test units` (make test runs them with plain pytest)
#
# Network: ansible-test installs each sanity test's pinned requirements from the package index into its own
# virtual environments (kept in .build/ansible-test-home, so later runs are quick). The shellcheck sanity test
# needs shellcheck, installed through apt when missing (as the Makefile's sshd target does with OpenSSH); without
# it ansible-test skips that one test with a warning. pslint needs pwsh (PowerShell), which is not installed here:
# ansible-test skips it with a warning.

LINT_PATH := $(abspath $(BIN)):$(PATH)
GALAXY_VERSION = $(shell sed -n 's/^version: *//p' galaxy.yml)
SANITY_ARGS ?=

.PHONY: lint lint-sanity lint-ansible lint-changelog changelog units-ansible-test lint-tools

## lint: ansible-test sanity, ansible-lint (production profile) and antsibull-changelog lint
lint: lint-sanity lint-ansible lint-changelog

lint-sanity: venv lint-tools
	PATH=$(LINT_PATH) tests/sanity/run.sh $(SANITY_ARGS)

lint-ansible: venv
	PATH=$(LINT_PATH) $(BIN)/ansible-lint

lint-changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

changelog: venv
	PATH=$(LINT_PATH) $(BIN)/antsibull-changelog release --version $(GALAXY_VERSION) --update-existing --reload-plugins --refresh

units-ansible-test: venv
	PATH=$(LINT_PATH) tests/sanity/run.sh --units

# shellcheck for ansible-test's shellcheck sanity test; best effort (without it that test is skipped, with a warning).
lint-tools:
	@if ! command -v shellcheck >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		{ $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y shellcheck; } \
			|| echo "lint.mk: could not install shellcheck; ansible-test will skip its shellcheck test" >&2; \
	fi
