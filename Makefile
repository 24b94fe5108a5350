# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run   - venv, install, materialize every asset for all four domains
#   make test  - venv, install, the full test suite
PY ?= python3.11
VENV ?= .venv
GOOSE_HOME ?= $(CURDIR)/.goose
export GOOSE_HOME
# On a machine without a local CPU torch wheel, set TORCH_INDEX=https://download.pytorch.org/whl/cpu
# to avoid pulling the multi-GB CUDA build.
TORCH_INDEX ?=
PIP = $(VENV)/bin/python -m pip

.PHONY: install run test test-fast ui bench bench-full bench-smoke lint clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e '.[dev,bench]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/goose run

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider goose_assets_tests; rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not slow and not corpora" goose_assets_tests

ui: install
	mkdir -p $(GOOSE_HOME)/dagster && cp dagster.yaml $(GOOSE_HOME)/dagster/dagster.yaml
	DAGSTER_HOME=$(GOOSE_HOME)/dagster $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: install
	$(VENV)/bin/python -m bench.run --quick

bench-full: install
	$(VENV)/bin/python -m bench.run --full

# every benchmark at its smallest size, results in a temp folder (part of `make test` too)
bench-smoke: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider goose_assets_tests/test_bench_smoke.py

lint: install
	$(VENV)/bin/ruff check goose_assets goose_assets_tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(GOOSE_HOME)
