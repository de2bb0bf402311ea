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

.PHONY: test venv host unit system sanity lint build molecule images engine demo demo-down clean

test: venv host unit system sanity lint build molecule

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "make: the toolchain is pinned for Python 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

host:
	scripts/host-packages.sh

unit: venv
	pytest tests/unit

system: venv host
	@[ "$$(id -u)" = 0 ] || { echo "make system: the real kernel audit and rsyslogd tests need root"; exit 1; }
	$(KERNEL_LOCK) pytest tests/system

sanity: venv
	scripts/sanity.sh

# ansible-lint resolves the collection's own modules through a link to this checkout
# (never an installed copy, which may be stale).
lint: venv
	yamllint --strict .
	ANSIBLE_COLLECTIONS_PATH="$$(python -c 'from tests.support.collection_path import collections_base; print(collections_base())')" \
	  ansible-lint --profile production

build: venv
	scripts/build-collection.sh

engine:
	scripts/docker-engine.sh

images: engine
	scripts/build-images.sh

molecule: venv images
	$(KERNEL_LOCK) scripts/molecule.sh

# The demo: three local containers, site.yml, two sessions, the who-did-what report
# (the Molecule scenario molecule/demo).  It holds the kernel lock until demo-down.
demo: venv images
	scripts/demo.sh up

demo-down: venv
	scripts/demo.sh down

clean:
	rm -rf $(VENV) .cache build
