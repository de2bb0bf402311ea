# The project's commands.  `make test` is the one CI runs: it installs what it needs
# (a pinned Python toolchain in .venv, the host packages, the Docker engine, the local
# images) and runs every test.  Re-runs reuse all of that.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1
# Ansible's own state (collections that Molecule and ansible-lint install, caches) stays
# in the checkout, so nothing installed elsewhere on the machine shadows this tree.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible

# One kernel, one audit rule table: whatever loads audit rules runs under this lock.
KERNEL_LOCK := flock /run/whotouched-kernel.lock

.PHONY: test test-steps venv chdb host unit system sanity lint lint-runs build molecule images guest engine demo demo-images demo-down clean

# `make test` ends by printing how long each step took (and each Molecule scenario run); a
# step records its time through scripts/timed.sh when WHOTOUCHED_TIMINGS names a file.
TIMINGS := $(CURDIR)/.cache/test-timings
TIMED := scripts/timed.sh

test:
	@mkdir -p $(dir $(TIMINGS)) && : >$(TIMINGS)
	@status=0; WHOTOUCHED_TIMINGS=$(TIMINGS) $(MAKE) --no-print-directory test-steps || status=$$?; \
	  $(TIMED) --report $(TIMINGS); exit $$status

test-steps: venv host unit system sanity lint build molecule

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "make: the toolchain is pinned for Python 3.11; set PYTHON=python3.11")'
	$(TIMED) venv $(PYTHON) -m venv $(VENV)
	$(TIMED) pip $(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# chdb, a current ClickHouse in-process, only for the unit tests (requirements-chdb.txt).
chdb: $(VENV)/.chdb
$(VENV)/.chdb: requirements-chdb.txt $(VENV)/.installed
	$(TIMED) pip-chdb $(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-chdb.txt
	touch $@

host:
	$(TIMED) host scripts/host-packages.sh

unit: venv chdb
	$(TIMED) unit pytest tests/unit

# The system tests include the test guest (a kernel of its own under QEMU) and a log
# server container for it.
system: venv host images guest
	@[ "$$(id -u)" = 0 ] || { echo "make system: the real kernel audit and rsyslogd tests need root"; exit 1; }
	$(TIMED) system $(KERNEL_LOCK) pytest --durations=15 tests/system

sanity: venv
	$(TIMED) sanity scripts/sanity.sh

# ansible-lint resolves the collection's own modules through a link to this checkout
# (never an installed copy, which may be stale).
lint: venv
	$(TIMED) lint $(MAKE) --no-print-directory lint-runs

lint-runs:
	yamllint --strict .
	ANSIBLE_COLLECTIONS_PATH="$$(python -c 'from tests.support.collection_path import collections_base; print(collections_base())')" \
	  ansible-lint --profile production

build: venv
	$(TIMED) build scripts/build-collection.sh

engine:
	$(TIMED) engine scripts/docker-engine.sh

images: engine
	$(TIMED) images scripts/build-images.sh

# The test guest's disk image (cached by its recipe under /var/cache/whotouched/guest).
guest: host
	$(TIMED) guest scripts/build-guest.sh >/dev/null

# Every scenario on the default platforms (Debian 12 and 13), then the managed-host roles'
# scenarios again on other releases: Ubuntu 20.04 (audit 2.8, rsyslog 8.2001, Python 3.8) and
# 24.04 (audit 3.1, rsyslog 8.2312); Debian 11 (rsyslog 8.2102, the version of RHEL 8,
# Python 3.9) and Ubuntu 22.04 (rsyslog 8.2112, Python 3.10), whose audit 3.0 the kernel has
# already met on Debian 12, so without linux_audit_kernel; and linux_audit_kernel alone with the
# audit versions it has not met yet (4.0 on Debian 13, 3.1 on Ubuntu 24.04).
# scripts/molecule-matrix.sh runs two at a time, one at a time on the kernel.
MOLECULE_RUNS := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)) \
	$(addsuffix @ubuntu,platform linux_audit linux_audit_kernel rsyslog_client rsyslog_server) \
	$(addsuffix @older,platform linux_audit rsyslog_client rsyslog_server) \
	linux_audit_kernel@debian13 linux_audit_kernel@ubuntu2404

molecule: venv images
	$(TIMED) molecule scripts/molecule-matrix.sh $(MOLECULE_RUNS)

# The demo: three local containers, site.yml, two sessions, the who-did-what report
# (the Molecule scenario molecule/demo).  It holds the kernel lock until demo-down.  It
# builds only the images its scenario runs on (molecule/demo/molecule.yml's defaults),
# while the Python toolchain installs.
DEMO_SUITES := bookworm trixie

demo:
	$(MAKE) --no-print-directory -j2 venv demo-images
	scripts/demo.sh up

demo-images: engine
	scripts/build-images.sh $(DEMO_SUITES)

demo-down: venv
	scripts/demo.sh down

clean:
	rm -rf $(VENV) .cache build
