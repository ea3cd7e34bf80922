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

.PHONY: venv test test-ui test-compat test-distributed demo bench-export bench-import bench-scale mwaa-bundle clean

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

# The browser tests (tests/ui): Debian's chromium and chromium-driver, installed when absent (CI
# runs as root), drive the Airflow UI of a whole Airflow (api-server, scheduler, dag-processor,
# triggerer) on the emulator. Screenshots are kept in .artifacts/ui/.
test-ui: $(AIRFLOW_HOME)/.ready
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	timeout 900 $(PY) -m pytest --ui tests/ui $(PYTEST_ARGS)

# The same dags/ and plugins/ on each Airflow version the MWAA bundle offers, as MWAA installs it:
# compat/airflow-<version>/ pins what that version's constraint file pins (requirements and a pip
# freeze) and names the Python MWAA runs it on (python-version). Each gets its own venv and Airflow
# home: DAG integrity, the export-then-import round trips (whose CSV job defers to its trigger, as
# the async AWS client is installed), and the trigger itself. The emulator runs from the main venv
# (LOCALAWS_PYTHON), so the compat pins need only boto3, not a moto that resolves with that
# Airflow's botocore.
COMPAT_VERSIONS := $(patsubst compat/airflow-%,%,$(wildcard compat/airflow-*))
COMPAT_TESTS := tests/test_dag_integrity.py \
	tests/restore/test_import_dag.py::test_csv_import_round_trip \
	tests/restore/test_import_dag.py::test_two_region_drill_into_a_created_pool \
	tests/restore/test_import_parts.py::test_the_trigger_is_serialized_with_its_job \
	tests/restore/test_import_parts.py::test_the_trigger_reports_the_end_of_a_real_job \
	tests/restore/test_import_parts.py::test_the_job_wait_defers

# A pyenv machine keeps each Python apart: ask pyenv for the newest installed X.Y, else use PATH's.
compat_python = $(shell PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^$(1)\.[0-9]+$$' | sort -V | tail -1) \
	python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null || echo python$(1))

.venv-compat/%/.installed: compat/airflow-%/constraints.txt compat/airflow-%/requirements.txt compat/airflow-%/python-version requirements.txt localaws/pyproject.toml
	rm -rf .venv-compat/$*
	$(call compat_python,$(file <compat/airflow-$*/python-version)) -m venv .venv-compat/$*
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

# BENCH_ARGS="--budget 0 --pinned": the budget-per-category runs alone, the emulator on core 1.
bench-import: $(AIRFLOW_HOME)/.ready
	$(PY) benchmarks/bench_import.py --out .bench/import-results.md $(BENCH_ARGS)

# 100,000-user pools: exports at budgets 10 and 30, the same by the code of an earlier commit,
# a restore; the emulator on core 1 and Airflow on core 0 (benchmarks/bench_scale.py). Hours.
bench-scale: $(AIRFLOW_HOME)/.ready
	$(PY) benchmarks/bench_scale.py --out .bench/scale-results.md $(BENCH_ARGS)

# Amazon MWAA: dags/, plugins.zip and requirements.txt in dist/mwaa/ (README: "Running on Amazon MWAA").
MWAA_AIRFLOW_VERSION ?= 2.11.0
MWAA_CONFIG ?= include/config/backups.yaml
mwaa-bundle: $(STAMP)
	$(PY) deploy/mwaa_bundle.py --airflow-version $(MWAA_AIRFLOW_VERSION) --config $(MWAA_CONFIG) --out dist/mwaa

clean:
	rm -rf $(VENV) .venv-compat $(AIRFLOW_HOME) .demo .bench dist
