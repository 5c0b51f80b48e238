# OneStop: `make run` starts the whole system; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
STORE_VENV := .venv-store
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STORE_STAMP := $(STORE_VENV)/.installed
PYTEST := $(PY) -m pytest -p no:cacheprovider


.PHONY: tools broker run test test-unit test-service test-integration test-e2e test-deploy test-chaos lint install clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# The embedded store is a separate server with its own dependencies (DESIGN.md §9).
$(STORE_STAMP):
	$(PYTHON) -m venv $(STORE_VENV)
	$(STORE_VENV)/bin/python -m pip install --quiet --upgrade "pip<26"
	$(STORE_VENV)/bin/python -m pip install --quiet "secantusdb==0.7.0b3"
	touch $@

install: $(STAMP) $(STORE_STAMP)

# Offline validators for tests/deploy: promtool (Debian's prometheus package) and kubectl
# (kustomize built in). Best effort: without promtool the rules get a schema check only.
tools: $(STAMP)
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq prometheus >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq prometheus >/dev/null 2>&1; }; } ; } || \
	  echo "note: promtool unavailable; alert rules get a schema check only"
	@$(PY) deploy/tools/install_kubectl.py $(VENV)/bin

broker: $(STAMP)
	$(PY) -m services.common.launcher --ensure-broker

run: install
	$(VENV)/bin/onestop run

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: install broker tools lint
	$(PYTEST) tests -m "not chaos"

test-unit: $(STAMP)
	$(PYTEST) tests/unit

test-service: install broker
	$(PYTEST) tests/service

test-integration: install broker
	$(PYTEST) tests/integration -m "not chaos"

test-e2e: install broker
	$(PYTEST) tests/e2e

test-deploy: install tools
	$(PYTEST) tests/deploy

test-chaos: install broker
	$(PYTEST) tests/chaos -m chaos -p no:warnings

clean:
	rm -rf $(VENV) $(STORE_VENV)
