# Two commands matter: `make demo` and `make test`. Both set up what they need, idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tools shared by every clone on this machine (code-server, its node, Azurite).
TOOLS_DIR ?= $(HOME)/.cache/aml-artifacts-explorer
PORT ?= 8080
DEMO_DIR ?= $(CURDIR)/demo-workspace
VSIX := dist/azureml-artifact-explorer.vsix

export TOOLS_DIR

.PHONY: help setup demo test test-python test-extension test-e2e lint bench vsix clean

help:
	@echo "make demo   set up, generate the demo workspace, serve VS Code on http://127.0.0.1:$(PORT)"
	@echo "make test   set up and run every test (lint, pytest, extension unit, real VS Code e2e)"
	@echo "make bench  run the benchmarks"
	@echo "make vsix   package the extension into $(VSIX)"

setup: $(VENV)/.installed node_modules/.installed dist/extension.js tools

# torch first, pinned: an unpinned torch pulls GBs of CUDA wheels (see shared design notes).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

dist/extension.js: node_modules/.installed $(shell find extension -name '*.ts' 2>/dev/null) esbuild.mjs
	npm run -s build

tools:
	bash scripts/install-tools.sh

lint: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff check pyserver tests bench
	$(VENV)/bin/ruff format --check pyserver tests bench
	$(VENV)/bin/mypy
	npm run -s typecheck
	npm run -s lint

test: setup lint test-python test-extension test-e2e

test-python: $(VENV)/.installed
	$(VENV)/bin/pytest -q

test-extension: node_modules/.installed
	npm run -s test:unit

test-e2e: setup vsix
	PYTHON_BIN=$(CURDIR)/$(PY) VSIX=$(CURDIR)/$(VSIX) node --test tests/e2e/

vsix: $(VSIX)
$(VSIX): dist/extension.js package.json
	npm run -s package

demo: setup vsix
	$(PY) -m pyserver demo-workspace $(DEMO_DIR)
	bash scripts/serve-vscode.sh --workspace $(DEMO_DIR) --port $(PORT) --vsix $(CURDIR)/$(VSIX) --python $(CURDIR)/$(PY)

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf dist node_modules $(VENV) demo-workspace test-artifacts
