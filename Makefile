# Two commands on a fresh machine of this kind: `make certify` and `make test`.
# Each does its own set-up (system packages, virtualenvs); nothing is installed by hand.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
CHECKOV_VENV := .venv-checkov
# Debian packages the sandbox needs on the host (container, image builder, firewall, nix),
# and chromium, the headless browser that the report's browser test opens pages in.
APT_PACKAGES := mmdebstrap systemd-container nftables nix-bin uidmap arch-test debian-archive-keyring iproute2 git shellcheck chromium
PYTEST_ARGS ?=
# Python caches each module's compiled bytecode in __pycache__ (ignored by git) unless told not to; a machine
# that tells it not to (this one sets PYTHONDONTWRITEBYTECODE=1) makes every harness run, sweep and pytest
# worker compile the project's modules again: about 0.2 CPU-s a process, a few hundred processes in make test.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup system-packages venv checkov checkov-shared-venv certify test dr bench report clean verify cloud-up cloud-down cloud-env cloud-status

# The two virtualenvs are made side by side by uv (pinned; pip puts it in .venv-tools), which resolves
# and installs in seconds what took pip most of the set-up: a fresh clone's set-up took 68 s, then 29-35 s with
# pip (side by side, --no-compile), 15 s with uv, now about 8 s with checkov's venv shared (below). uv installs no bytecode either (Python compiles a module when
# it is first imported; checkov's installation is mostly modules no run imports). uv reads no pip configuration:
# UV_INDEXES hands it the indexes, wheel folders and constraints pip is configured with on this machine, and
# unsafe-best-match makes it choose among all indexes as pip does.
UV_VERSION := 0.13.8
TOOLS_VENV := .venv-tools
UV := $(TOOLS_VENV)/bin/uv
pip_config = $(sort $(shell python3 -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.$(1)='\(.*\)'$$/\1/p"))
UV_INDEXES = --index-strategy unsafe-best-match \
  $(foreach url,$(call pip_config,index-url),--index-url $(url)) \
  $(foreach url,$(call pip_config,extra-index-url),--extra-index-url $(url)) \
  $(foreach dir,$(call pip_config,find-links),--find-links $(dir)) \
  $(foreach file,$(call pip_config,constraint),--constraint $(file))

setup: system-packages
	@$(MAKE) --no-print-directory -j2 venv checkov

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(UV):
	python3 -m pip install -q --root-user-action=ignore --target $(TOOLS_VENV) 'uv==$(UV_VERSION)' 2>&1 | grep -v '^WARNING: Location' || true

$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV) venv -q --allow-existing --python python3 $(VENV)
	$(UV) pip install -q --python $(PY) $(UV_INDEXES) -e .
	$(PY) -c 'import harness, moto, tftest, testinfra, paramiko'
	touch $@

venv: $(VENV)/.installed

# checkov's virtualenv is made once per machine, checkov version (pyproject.toml's `static` extra) and Python, and
# shared by every clone (as the sandbox image is): .venv-checkov is a link to it. Made under a lock, its marker
# written last, so that a set-up interrupted half-way is made again and two set-ups at once make it once.
# `checkov --version` proves it runs and leaves the bytecode of its start-up behind for every run after it
# (each fresh clone's set-up spent about 6 CPU-s and 10 s on this venv before).
CHECKOV_VERSION := $(shell sed -n 's/.*"checkov==\([^"]*\)".*/\1/p' pyproject.toml)
$(if $(CHECKOV_VERSION),,$(error pyproject.toml's `static` extra names no "checkov==VERSION": put the pin back))
CHECKOV_SHARED ?= /var/cache/inventory-tracker-harness/checkov/$(CHECKOV_VERSION)-python$(shell python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

checkov: | $(UV)
	@set -euo pipefail; shared='$(CHECKOV_SHARED)'; mkdir -p "$$(dirname "$$shared")"; \
	exec 9>"$$shared.lock"; flock 9; \
	if [ ! -f "$$shared/.installed" ]; then $(MAKE) --no-print-directory checkov-shared-venv; fi; \
	if [ -d $(CHECKOV_VENV) ] && [ ! -L $(CHECKOV_VENV) ]; then rm -rf $(CHECKOV_VENV); fi; \
	ln -sfn "$$shared" $(CHECKOV_VENV)

# Called by `checkov` under its lock.
checkov-shared-venv: | $(UV)
	@echo "making checkov $(CHECKOV_VERSION)'s virtualenv in $(CHECKOV_SHARED) (once on this machine)"
	rm -rf '$(CHECKOV_SHARED)'
	$(UV) venv -q --python python3 '$(CHECKOV_SHARED)'
	$(UV) pip install -q --python '$(CHECKOV_SHARED)/bin/python' $(UV_INDEXES) 'checkov==$(CHECKOV_VERSION)'
	'$(CHECKOV_SHARED)/bin/checkov' --version >/dev/null
	touch '$(CHECKOV_SHARED)/.installed'

certify: setup
	$(PYTEST) $(PYTEST_ARGS)

# Test files run in TEST_WORKERS pytest-xdist workers: most of their time is waiting on Terraform
# or a booting container. Tests that share a deployment stay in one worker (tests/conftest.py).
# 5, not 4: with 4 the two cores were idle 13-26% of the run (every apply waits 55 s on the provider's
# lifecycle check); the same code took 10 min 53 s and 10 min 59 s with 4, 10 min 4 s with 5 (cores 92% busy).
TEST_WORKERS ?= 5
test: setup
	$(PYTEST) tests -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15 \
	  --junitxml=reports/tests-junit.xml $(PYTEST_ARGS); status=$$?; \
	$(PY) -m harness.fault_matrix || status=$$((status ? status : 1)); exit $$status

# Every certification check and the fault tests that break it, with their last result (README: make faults).
.PHONY: faults
faults: venv
	$(PY) -m harness.fault_matrix

dr: setup
	$(PYTEST) -m dr $(PYTEST_ARGS)

bench: setup
	$(PY) -m harness.bench --runs $${BENCH_RUNS:-3}

# The newest report page (reports/*.html: certificate, certificate-dr, bench).
report:
	@newest=$$(ls -t reports/*.html 2>/dev/null | head -1); \
	if [ -z "$$newest" ]; then echo "no report page yet: run make certify, make dr or make bench" >&2; exit 1; fi; \
	echo "$$PWD/$$newest"

# Verifies a certificate's signature against certification/allowed_signers (exit 0 only when valid):
# make verify CERT=reports/certificate-staging.json
verify: venv
	@if [ -z "$(CERT)" ]; then echo "usage: make verify CERT=reports/certificate-<environment>.json" >&2; exit 2; fi
	$(PY) -m harness verify "$(CERT)"

# Removes what dead or kept runs left (containers, namespaces, nft tables, moto, run state).
# RUN=<run id> removes one kept run.
clean: venv
	$(PY) -m harness.sweep $(if $(RUN),--run $(RUN),)

# The long-lived sandbox cloud (harness/sandbox/cloud.py): an emulated AWS account (moto), its network and
# instances, kept between runs, where `pytest -m staging --cloud sandbox` and `-m production --cloud sandbox` run.
# CLOUD_DIR=<folder> chooses another cloud than clouds/sandbox.
CLOUD_ARGS = $(if $(CLOUD_DIR),--dir $(CLOUD_DIR),)
cloud-up: setup
	$(PY) -m harness.sandbox.cloud up $(CLOUD_ARGS)

# Stops it and removes everything in it (its instances, state, backups, certificates).
cloud-down: venv
	$(PY) -m harness.sandbox.cloud down $(CLOUD_ARGS)

# Shell lines for the AWS CLI / boto3: eval "$$(make -s cloud-env)"
cloud-env: venv
	@$(PY) -m harness.sandbox.cloud env $(CLOUD_ARGS)

cloud-status: venv
	@$(PY) -m harness.sandbox.cloud status $(CLOUD_ARGS)
