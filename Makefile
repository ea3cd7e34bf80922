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

.PHONY: venv test test-compat test-distributed demo bench-export bench-import mwaa-bundle clean

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

# The same dags/ and plugins/ on older Airflow versions, each pinned in compat/airflow-<version>/
# (requirements and a pip freeze), with its own venv and Airflow home: DAG integrity and the
# export-then-import round trips, and the CSV job's deferral to its trigger. The emulator runs
# from the main venv (LOCALAWS_PYTHON), so the compat pins need only boto3, not a moto that
# resolves with that Airflow's botocore.
COMPAT_VERSIONS := 2.11 3.0
COMPAT_TESTS := tests/test_dag_integrity.py \
	tests/restore/test_import_dag.py::test_csv_import_round_trip \
	tests/restore/test_import_dag.py::test_two_region_drill_into_a_created_pool \
	tests/restore/test_import_parts.py::test_the_trigger_waits_with_the_project_waiter_for_the_job \
	tests/restore/test_import_parts.py::test_the_job_wait_defers_when_the_async_client_is_there

.venv-compat/%/.installed: compat/airflow-%/constraints.txt compat/airflow-%/requirements.txt requirements.txt localaws/pyproject.toml
	@test -x .venv-compat/$*/bin/python || $(PYTHON) -m venv .venv-compat/$*
	.venv-compat/$*/bin/python -m pip install --quiet --disable-pip-version-check -r compat/airflow-$*/requirements.txt -c compat/airflow-$*/constraints.txt
	.venv-compat/$*/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./localaws
	AIRFLOW_HOME=$(CURDIR)/.venv-compat/$*/home .venv-compat/$*/bin/airflow db migrate >/dev/null
	@touch $@

test-compat: $(STAMP) $(foreach v,$(COMPAT_VERSIONS),.venv-compat/$(v)/.installed)
	@set -e; for v in $(COMPAT_VERSIONS); do \
		echo "== Airflow $$v"; \
		AIRFLOW_HOME=$(CURDIR)/.venv-compat/$$v/home LOCALAWS_PYTHON=$(CURDIR)/$(PY) \
			.venv-compat/$$v/bin/python -m pytest $(COMPAT_TESTS) $(PYTEST_ARGS); \
	done

# The DAGs on the engine MWAA runs, under the faults production brings (README, "Reliability"):
# Airflow with the CeleryExecutor, Redis and PostgreSQL from Debian's packages (installed when
# absent), every process started in .distributed/ on free ports and stopped by the tests' session;
# the whole run is bounded by `timeout`. The folder is removed after a run that passed, kept with
# its logs after one that did not.
DISTRIBUTED_TIMEOUT ?= 45m
test-distributed: $(STAMP)
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			redis-server postgresql >/dev/null; }
	timeout -k 60 $(DISTRIBUTED_TIMEOUT) $(PY) -m pytest tests/distributed $(PYTEST_ARGS)
	rm -rf .distributed

demo: $(AIRFLOW_HOME)/.ready
	$(PY) demo/run.py

# Benchmarks print their figures; RESULTS.md holds a committed run from a 2-core machine.
bench-export: $(AIRFLOW_HOME)/.ready
	$(PY) benchmarks/bench_export.py --out .bench/export-results.md

bench-import: $(AIRFLOW_HOME)/.ready
	$(PY) benchmarks/bench_import.py --out .bench/import-results.md

# Amazon MWAA: dags/, plugins.zip and requirements.txt in dist/mwaa/ (README: "Running on Amazon MWAA").
MWAA_AIRFLOW_VERSION ?= 2.11.0
MWAA_CONFIG ?= include/config/backups.yaml
mwaa-bundle: $(STAMP)
	$(PY) deploy/mwaa_bundle.py --airflow-version $(MWAA_AIRFLOW_VERSION) --config $(MWAA_CONFIG) --out dist/mwaa

clean:
	rm -rf $(VENV) .venv-compat $(AIRFLOW_HOME) .demo .bench dist
