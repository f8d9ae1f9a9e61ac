# Two commands matter: `make demo` (the reconciliation DAG end to end against the bundled simulator)
# and `make test` (lint, types, all tests that need only Python). Both bootstrap .venv on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint types unit demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint types unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# ---------------------------------------------------------------------------------------------------------------
# End-to-end tests (tests/e2e, docs/e2e.md): Airflow's real services (API server, scheduler, DAG processor) and its
# UI in headless Chromium. Installs what they need: Debian's chromium (only if missing) and Playwright's Python
# package, which drives that chromium and downloads no browser.
E2E_PIP := playwright==1.65.2
E2E_TIMEOUT := 1200
E2E_APT := chromium fonts-liberation
# The oldest supported Airflow, in its own venv (under build/, ignored by git and ruff).
OLDEST_AIRFLOW := 3.1.8
OLDEST_VENV := build/venv-airflow-3.1

.PHONY: test-e2e test-oldest e2e-browser

e2e-browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "+ apt-get install $(E2E_APT)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(E2E_APT) >/dev/null; }
	@chromium --version

$(VENV)/.e2e-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(E2E_PIP)"
	touch $@

test-e2e: e2e-browser $(VENV)/.e2e-installed
	timeout $(E2E_TIMEOUT) $(BIN)/python -m pytest tests/e2e --durations=0

$(OLDEST_VENV)/.installed: pyproject.toml
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		"apache-airflow==$(OLDEST_AIRFLOW)" -e ".[test]" "$(E2E_PIP)"
	touch $@

# Everything that needs only Python, then the e2e tests, against Airflow $(OLDEST_AIRFLOW).
test-oldest: e2e-browser $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python -c "import airflow; print('Airflow', airflow.__version__)"
	$(OLDEST_VENV)/bin/python -m pytest
	timeout $(E2E_TIMEOUT) $(OLDEST_VENV)/bin/python -m pytest tests/e2e --durations=0

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
	touch $(BENCH_STAMP)

# Benchmarks against the bundled simulator (issue 6), not part of `make test`: about 6 minutes on 2 cores.
# Writes benchmarks/RESULTS.md, benchmarks/results.json and benchmarks/efficiency.png.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py
