# novaops.compute: everything a fresh Debian 12 machine (as root) needs, from two commands:
#   make demo   install, start the test beds, run the main job against them, print a summary
#   make test   install, start the test beds, run sanity, unit and integration tests
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help deps apt venv collection beds beds-stop beds-status beds-check sanity unit \
        unit-collection unit-tools integration test demo bench dist dist-check ee-check changelog lint \
        fresh-check

REPO      := $(abspath .)
VENV      ?= $(HOME)/.cache/novaops-compute/venv
PY        := $(VENV)/bin/python
BIN       := $(VENV)/bin
REQ_HASH  := $(shell cat requirements.txt requirements-test.txt | sha1sum | cut -c1-12)
STAMP     := $(VENV)/.deps-$(REQ_HASH)
# ansible-test wants the tree at ansible_collections/novaops/compute; we make it outside
# the git checkout (a copy of what ships plus tests/), so ansible-test lists it as is.
BUILD     ?= /tmp/novaops-compute-build-$(shell echo $(REPO) | sha1sum | cut -c1-8)
COLL      := $(BUILD)/ansible_collections/novaops/compute
APT_PKGS  := $(shell sed -n -e 's/\#.*//' -e '/platform:dpkg/s/[[:space:]]*\[.*//p' bindep.txt | xargs)
ANSIBLE_TEST := cd $(COLL) && $(BIN)/ansible-test
BEDS_ENV  := $(REPO)/.beds/env.sh
TEST_ENV  := set -a; source $(BEDS_ENV); set +a; export PATH=$(BIN):$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD):$(VENV)/lib/python3.11/site-packages;

help:
	@echo "make demo   - install, start the beds, run the main job end to end, print a summary"
	@echo "make test   - install, start the beds, run sanity, unit and integration tests"
	@echo "other targets: deps beds beds-stop beds-status sanity unit integration fresh-check bench dist changelog lint"

# ---- dependencies ------------------------------------------------------------------------
# Everything that needs the venv reaches it through $(STAMP), and $(STAMP) runs apt first (an
# order-only prerequisite: checked every time, without making the venv out of date): pip builds
# libvirt-python and uWSGI against bindep's packages, and `python3 -m venv` needs python3-venv.
deps: apt $(STAMP)

apt:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMP): requirements.txt requirements-test.txt | apt
	@test -x $(BIN)/pip || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.txt -r requirements.txt
	@$(PY) tools/ci/get_pip_stub.py
	@rm -f $(VENV)/.deps-* && touch $@

# ---- the collection tree ansible-test needs ----------------------------------------------
collection: $(STAMP)
	@mkdir -p $(COLL)
	@rsync -a --delete --exclude-from=tools/ci/not-in-tree $(REPO)/ $(COLL)/

dist-check: $(STAMP)
	$(PY) tools/ci/check_dist.py

# execution-environment.yml -> an ansible-builder build context, checked (no container engine needed)
ee-check: $(STAMP)
	$(PY) tools/ci/check_ee.py

dist: $(STAMP)
	@mkdir -p dist && rm -f dist/novaops-compute-*.tar.gz
	$(BIN)/ansible-galaxy collection build --force --output-path dist .

# ---- test beds ---------------------------------------------------------------------------
beds: deps
	$(PY) tools/beds/beds.py start

beds-stop:
	@if [ -x $(PY) ]; then $(PY) tools/beds/beds.py stop; else python3 tools/beds/beds.py stop; fi

beds-status:
	@python3 tools/beds/beds.py status

beds-check: beds
	$(PY) -m pytest -q -p no:cacheprovider tools/beds/tests

# ---- tests -------------------------------------------------------------------------------
# sanity, unit and fresh-check are not run again on a tree (and tools, and arguments) they passed on
# before: <dir>/<what>-<hash> records a pass (tools/ci/tree_hash.py); FORCE=1 runs them anyway.
# $(call PASSED_IF,<what>,<roots>,<words>[,<dir>]); <dir> is $(PASSED) unless given.
PASSED    := $(BUILD)/.passed
PASSED_IF = stamp=$(or $(4),$(PASSED))/$(1)-$$(python3 tools/ci/tree_hash.py $(2) $(1) $(REQ_HASH) $(3)); \
	if [ -e $$stamp ] && [ -z "$(FORCE)" ]; then echo "$(1): passed on this very tree before ($$stamp), not run again"; exit 0; fi; \
	mkdir -p $(or $(4),$(PASSED));
sanity: collection
	@$(call PASSED_IF,sanity,$(COLL),$(SANITY_ARGS)) \
	$(ANSIBLE_TEST) sanity --venv --python 3.11 --requirements --color no $(SANITY_ARGS) && touch $$stamp

unit: unit-collection unit-tools

unit-collection: collection
	@$(call PASSED_IF,unit-collection,$(COLL),$(UNIT_ARGS)) \
	$(ANSIBLE_TEST) units --python 3.11 --color no $(UNIT_ARGS) && touch $$stamp

unit-tools: $(STAMP)
	@$(call PASSED_IF,unit-tools,$(REPO)/tools:$(REPO)/files,$(TOOLS_ARGS)) \
	PYTHONPATH=$(REPO)/tools $(PY) -m pytest -q -p no:cacheprovider -n 2 --ignore=tools/beds tools $(TOOLS_ARGS) && touch $$stamp

# All targets: in LANES lanes at once (tools/ci/integration_lanes.py says what may run beside
# what); targets named in INTEGRATION_ARGS: one ansible-test run, as before.  The per-target
# times (slowest first) are printed at the end, also when a target failed.
LANES     ?= 2
integration: collection beds
	@$(PY) tools/ci/integration_config.py $(REPO)/.beds $(COLL)
	@if [ -z "$(INTEGRATION_ARGS)" ]; then \
	  $(TEST_ENV) $(PY) tools/ci/integration_lanes.py $(COLL) $(LANES) $(LANES_ARGS); \
	else \
	  mkdir -p $(COLL)/tests/output/data && touch $(COLL)/tests/output/data/.integration-started; \
	  status=0; ( $(TEST_ENV) $(ANSIBLE_TEST) integration --python 3.11 --color no $(INTEGRATION_ARGS) ) || status=$$?; \
	  $(PY) tools/ci/integration_times.py $(COLL) $(COLL)/tests/output/data/.integration-started; exit $$status; \
	fi

# --offline: ansible-lint would otherwise install the collection into ~/.ansible/collections (it does when
# ANSIBLE_COLLECTIONS_PATH is set), where that stale copy shadows the tree in later runs
lint: collection
	cd $(COLL) && ANSIBLE_COLLECTIONS_PATH=$(BUILD) $(BIN)/ansible-lint --offline --profile production roles playbooks

# ---- a fresh machine ---------------------------------------------------------------------
# `make deps` then `make demo` from a clone in /root of a minimal Debian 12 root (debootstrap),
# the demo in network, pid and mount namespaces of its own (tools/ci/fresh_check.py).  Its stamp
# is kept per machine, not per checkout, and covers only what decides how a fresh machine is set
# up: a fresh clone (CI) runs it when one of these changed since its last pass on this machine.
# It checks the committed HEAD: a pass is recorded only when these files have no uncommitted change.
FRESH_ROOTS  := bindep.txt:requirements.txt:requirements-test.txt:Makefile:tools/beds:tools/demo:tools/ci/fresh_check.py
FRESH_PASSED := $(HOME)/.cache/novaops-compute/passed
fresh-check: apt
	@$(call PASSED_IF,fresh-check,$(FRESH_ROOTS),$(FRESH_ARGS),$(FRESH_PASSED)) \
	python3 tools/ci/fresh_check.py $(FRESH_ARGS) || exit $$?; \
	if [ -z "$$(git status --porcelain -- $(subst :, ,$(FRESH_ROOTS)))" ]; then touch $$stamp; \
	else echo "fresh-check: passed on HEAD; not recorded, as $(subst :, ,$(FRESH_ROOTS)) have uncommitted changes"; fi

# The checks before integration run one after the other, and fresh-check beside them: it works in a
# root, namespaces and beds of its own, and spends its first minutes in apt and pip, so the two overlap
# well on two cores.  Its output is kept and printed when both are done.  Integration waits for
# both: its lanes want the cores, and a red check ends the run before it.
TEST_CHECKS := beds-check dist-check ee-check lint sanity unit
test: deps
	@mkdir -p $(BUILD); log=$(BUILD)/fresh-check.log; start=$$(date +%s); \
	$(MAKE) --no-print-directory fresh-check > $$log 2>&1 & fresh=$$!; \
	status=0; $(MAKE) --no-print-directory $(TEST_CHECKS) || status=$$?; \
	checks=$$(( $$(date +%s) - start )); \
	fresh_status=0; wait $$fresh || fresh_status=$$?; \
	echo "---- fresh-check, which ran beside the checks above ($$log) ----"; cat $$log; \
	echo "make test: $(TEST_CHECKS): $${checks}s; with fresh-check beside them: $$(( $$(date +%s) - start ))s"; \
	if [ $$fresh_status -ne 0 ]; then echo "make test: fresh-check failed (rc $$fresh_status)"; fi; \
	[ $$status -eq 0 ] && [ $$fresh_status -eq 0 ]
	@$(MAKE) --no-print-directory integration
	@echo "make test: all green"

changelog: $(STAMP)
	$(BIN)/antsibull-changelog lint

# ---- the main job ------------------------------------------------------------------------
demo: collection beds
	$(TEST_ENV) $(PY) tools/demo/demo.py

bench: collection beds
	$(TEST_ENV) $(PY) bench/run.py $(BENCH_ARGS)
