# remote.jobs - developer entry points. `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
LINK := $(COLLECTIONS)/ansible_collections/remote/jobs
PYTEST_ARGS ?=
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR ?= 1

.PHONY: demo test unit integration venv sshd clean bench

## demo: run playbooks/demo.yml on the embedded default inventory (localhost)
demo: venv
	$(BIN)/ansible-playbook -i inventory/localhost.yml playbooks/demo.yml

## test: run the whole test suite (unit, integration over a real sshd, PowerShell parse checks)
test: venv sshd
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests

unit: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests/unit

integration: venv sshd
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests/integration

venv: $(BIN)/.ready $(LINK)

$(BIN)/.ready: requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The repository root is the collection root: expose it as ansible_collections/remote/jobs.
$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

# The integration tests start their own sshd on loopback; install OpenSSH when it is missing, and for the become
# tests acl (setfacl, which Ansible needs to become one unprivileged user from another) and sudo.
sshd:
	@if ! command -v sshd >/dev/null 2>&1 && ! test -x /usr/sbin/sshd || ! command -v ssh >/dev/null 2>&1 \
			|| ! command -v setfacl >/dev/null 2>&1 || ! command -v sudo >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y openssh-server openssh-client acl sudo; \
	fi

## bench: the same work with remote.jobs and with built-in async, against a private sshd on loopback
bench: venv sshd
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/store_scale.py

clean:
	rm -rf .build $(VENV) job_results tests/output .pytest_cache

# make lint: ansible-test sanity, ansible-lint (production profile), antsibull-changelog lint.
include lint.mk
