# citysoc — two commands: `make run` (embedded default) and `make test` (whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= citysoc.yaml
# Find a Python 3.13 interpreter: $PYTHON, python3.13 on PATH, pyenv's 3.13.x, else fail clearly.
PYTHON ?= $(shell for c in python3.13 "$$HOME/.pyenv/versions/3.13.0/bin/python3" $$(ls -d $$HOME/.pyenv/versions/3.13.*/bin/python3 2>/dev/null) python3; do \
	  p=$$(command -v $$c 2>/dev/null) || continue; \
	  PYENV_VERSION=$$(basename $$(dirname $$(dirname $$p)) 2>/dev/null) $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo $$p; break; }; \
	done)

.PHONY: help venv dev run test lint typecheck check-deploy check-rules pytest clean chromium screenshots

help:
	@echo "make run   - set up .venv and run the embedded default (one process, chDB, in-process bus)"
	@echo "make test  - set up .venv with dev extras and run ruff, mypy, deploy checks and the whole suite"
	@echo "make screenshots - PNGs of every web console page at 1366x768 into screenshots/ for review"

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.13 not found (set PYTHON=/path/to/python3.13)" >&2; exit 1; fi
	@echo "using $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.dev-installed

$(CONFIG): | venv
	$(VENV)/bin/citysoc init --config $(CONFIG)

run: venv $(CONFIG)
	$(VENV)/bin/citysoc run --config $(CONFIG)

lint: dev
	$(VENV)/bin/ruff check services tests benchmarks deploy
	$(VENV)/bin/ruff format --check services tests benchmarks deploy

typecheck: dev
	$(VENV)/bin/mypy

# promtool (Debian package 'prometheus') checks deploy/prometheus; installed here when we are root.
check-deploy: dev
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; }; } || \
	  echo "note: could not install promtool"
	$(PY) deploy/check.py

# The center's own rules: SigmaHQ validators, then each rule against its true/false-positive samples.
check-rules: dev
	$(VENV)/bin/citysoc rules check detections
	$(VENV)/bin/citysoc rules test detections

# Debian's Chromium for the console's browser tests and screenshots (Playwright's own browser download
# fails on these machines); installed here when we are root. Without it the browser tests skip (fail
# under CI=true).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; }; } || \
	  echo "note: could not install chromium"

pytest: dev chromium
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# PNGs of every console page at 1366x768 into $(SCREENSHOTS) (git-ignored), from a demo `citysoc run`.
SCREENSHOTS ?= screenshots
screenshots: dev chromium
	$(PY) deploy/dev/screenshots.py --out $(SCREENSHOTS)

test: lint typecheck check-deploy check-rules pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
