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
# UI in headless Chromium; a CeleryExecutor cluster (Redis, PostgreSQL, two workers). Installs what they need:
# Debian's chromium, redis-server and postgresql (only if missing), Playwright's Python package, which drives that
# chromium and downloads no browser, and the test extra's Celery provider and database clients.
E2E_PIP := playwright==1.65.2
E2E_TIMEOUT := 1200
E2E_APT := chromium fonts-liberation
# The distributed e2e test's backing services (tests/e2e/_services.py starts and stops them itself).
E2E_SERVICES_APT := redis-server postgresql
# The oldest supported Airflow, in its own venv (under build/, ignored by git and ruff).
OLDEST_AIRFLOW := 3.1.8
OLDEST_VENV := build/venv-airflow-3.1

.PHONY: test-e2e test-oldest e2e-browser e2e-services

e2e-browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "+ apt-get install $(E2E_APT)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(E2E_APT) >/dev/null; }
	@chromium --version

# Redis and PostgreSQL from Debian, only if missing; nothing is started here (the test starts its own, as a user
# other than root for PostgreSQL, on free ports of 127.0.0.1).
e2e-services:
	@{ command -v redis-server && ls /usr/lib/postgresql/*/bin/postgres; } >/dev/null 2>&1 || { \
		echo "+ apt-get install $(E2E_SERVICES_APT)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(E2E_SERVICES_APT) >/dev/null; }
	@redis-server --version
	@ls /usr/lib/postgresql/*/bin/postgres

$(VENV)/.e2e-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(E2E_PIP)"
	touch $@

test-e2e: e2e-browser e2e-services $(VENV)/.e2e-installed
	timeout $(E2E_TIMEOUT) $(BIN)/python -m pytest tests/e2e --durations=0

$(OLDEST_VENV)/.installed: pyproject.toml
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		"apache-airflow==$(OLDEST_AIRFLOW)" -e ".[test]" "$(E2E_PIP)"
	touch $@

# Everything that needs only Python, then the e2e tests, against Airflow $(OLDEST_AIRFLOW).
test-oldest: e2e-browser e2e-services $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python -c "import airflow; print('Airflow', airflow.__version__)"
	$(OLDEST_VENV)/bin/python -m pytest
	timeout $(E2E_TIMEOUT) $(OLDEST_VENV)/bin/python -m pytest tests/e2e --durations=0

# ---------------------------------------------------------------------------------------------------------------
# Release: `make dist` builds the sdist and, from it, the wheel (dist/), then checks both with twine.
# `make test-wheel` installs that BUILT wheel (not the editable tree) with Airflow 3.2 under its constraints into
# a venv of its own, then runs the suite and the e2e tests against it from an empty folder, so that every import of
# the package resolves to the venv's site-packages (test_installed.py checks it; --import-mode=append keeps the
# source tree, which the tests package needs on the path, behind site-packages).
AIRFLOW_32 := 3.2.2
AIRFLOW_32_VENV := build/venv-airflow-3.2
# Airflow's constraints for 3.2.2 and Python 3.11, as CI can reach them (see the file's header).
AIRFLOW_32_CONSTRAINTS := .ci/constraints-airflow-3.2.2-python3.11.txt
WHEEL_RUN := build/wheel-run
WHEEL_PY := $(CURDIR)/$(AIRFLOW_32_VENV)/bin/python
WHEEL_PYTEST := $(WHEEL_PY) -m pytest --import-mode=append --rootdir=$(CURDIR)

.PHONY: dist test-wheel

dist: $(STAMP)
	rm -rf dist *.egg-info
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

$(AIRFLOW_32_VENV)/.installed: pyproject.toml $(AIRFLOW_32_CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
		"$(AIRFLOW_32_CONSTRAINTS) is for Python 3.11: run with PYTHON=python3.11")'
	test -x $(AIRFLOW_32_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_32_VENV)
	$(AIRFLOW_32_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(AIRFLOW_32_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--constraint $(AIRFLOW_32_CONSTRAINTS) "apache-airflow==$(AIRFLOW_32)" "$$(ls dist/*.whl)[test]" "$(E2E_PIP)"
	touch $@

# The suite, then the e2e tests (on the wheel's own example DAGs), against the built wheel on Airflow $(AIRFLOW_32).
test-wheel: e2e-browser e2e-services dist $(AIRFLOW_32_VENV)/.installed
	$(AIRFLOW_32_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
		dist/*.whl
	rm -rf $(WHEEL_RUN) && mkdir -p $(WHEEL_RUN)
	cd $(WHEEL_RUN) && $(WHEEL_PY) -c "import airflow, airflow_provider_hubspot_channels as p; \
		print('Airflow', airflow.__version__, '- package from', p.__file__)"
	cd $(WHEEL_RUN) && HUBSPOT_EXPECT_INSTALLED=1 $(WHEEL_PYTEST) $(CURDIR)/tests
	cd $(WHEEL_RUN) && HUBSPOT_EXPECT_INSTALLED=1 HUBSPOT_E2E_DAGS_FOLDER="$$($(WHEEL_PY) -c \
		"import airflow_provider_hubspot_channels as p, os; print(os.path.dirname(p.__file__) + '/example_dags')")" \
		timeout $(E2E_TIMEOUT) $(WHEEL_PYTEST) $(CURDIR)/tests/e2e $(CURDIR)/tests/packaging/test_installed.py --durations=0

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
	touch $(BENCH_STAMP)

# Benchmarks against the bundled simulator (issue 6), not part of `make test`: about 6 minutes on 2 cores.
# Writes benchmarks/RESULTS.md, benchmarks/results.json and benchmarks/efficiency.png.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py
