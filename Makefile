# Two commands for a newcomer: `make demo` and `make test`. Each bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: venv test demo bench-export bench-import clean

# The venv is rebuilt only when a pinned file changes (stale) or it is missing.
$(STAMP): constraints.txt requirements.txt requirements-dev.txt localaws/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e ./localaws
	@touch $@

venv: $(STAMP)

$(AIRFLOW_HOME)/.ready: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate >/dev/null
	@touch $@

test: $(AIRFLOW_HOME)/.ready
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(AIRFLOW_HOME)/.ready
	$(PY) demo/run.py

# Benchmarks print their figures; RESULTS.md holds a committed run from a 2-core machine.
bench-export: $(AIRFLOW_HOME)/.ready
	$(PY) benchmarks/bench_export.py --out .bench/export-results.md

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) .demo .bench
