# The two quick-start commands: `make smoke` and `make test` (README).
# Both create .venv if absent and install the pinned package into it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Offline copies of the C4 resources (Punkt, bad-words list); see README "Offline data".
T5REPRO_DATA ?= $(abspath ../shared/data)
export T5REPRO_DATA
# Snakemake's rules call the `t5repro` console script: put the venv's bin first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
CORES ?= 2

.PHONY: smoke test test-fast install install-test lint dry-run-paper clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/lock.txt
	$(BIN)/pip install --quiet -c requirements/lock.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c requirements/lock.txt -e ".[test]"
	$(BIN)/pip install --quiet --no-deps -c requirements/lock.txt t5  # reference for test_objectives_t5_golden.py
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## smoke: install, run the smoke DAG (local profile), build the HTML report, say where things are.
smoke: $(VENV)/.installed
	@start=$$(date +%s); \
	$(BIN)/snakemake --profile workflow/profiles/local --cores $(CORES) smoke && \
	$(BIN)/snakemake --profile workflow/profiles/local --cores $(CORES) smoke --report reports/report.html && \
	echo "smoke DAG finished in $$(( $$(date +%s) - start )) s" && \
	echo "table:  $$(pwd)/reports/table01_baseline.md" && \
	echo "figure: $$(pwd)/reports/figures/loss_curve.png" && \
	echo "report: $$(pwd)/reports/report.html"

## test: install with test extras and run the whole suite (slow end-to-end tests included).
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint

dry-run-paper: $(VENV)/.installed
	$(BIN)/snakemake -n --config scale=paper

clean:
	rm -rf results work .snakemake reports/table*.md reports/table*.csv reports/table*.tex reports/figures reports/report.html
