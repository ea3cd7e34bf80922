"""Every DAG file parses fast, with no AWS call, and declares what production needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from airflow_runs import dag_bag, write_backups_config

ROOT = Path(__file__).resolve().parents[1]
ENTRY = {"name": "integrity", "user_pool_id": "us-east-1_AbC123", "region": "us-east-1",
         "table_name": "cognito-backup-integrity", "backup_regions": ["us-west-2"]}


def parse(folder: Path = ROOT / "dags"):
    return dag_bag(folder)


def test_every_dag_file_parses_in_under_a_second_without_aws_calls(aws, tmp_path):
    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    parse()  # warm: Airflow's own imports are not the DAG files' cost
    mark = aws.mark()
    for path in sorted((ROOT / "dags").glob("*.py")):
        started = time.monotonic()
        bag = parse(path)
        elapsed = time.monotonic() - started
        assert not bag.import_errors, bag.import_errors
        assert bag.dags, f"{path.name} declares no DAG"
        assert elapsed < 1.0, f"{path.name} took {elapsed:.2f} s to parse"
    assert aws.requests(since=mark) == []


def test_the_plugin_loader_leaves_the_package_to_the_dag_files():
    # Airflow runs every .py file of its plugins folder as a top-level module named after the
    # file; plugins/.airflowignore keeps it out of the package (no "items" or "config" module).
    # (`__main__`, the status command's entry, names every interpreter's main module anyway.)
    stems = sorted({p.stem for p in (ROOT / "plugins" / "cognito_backup").rglob("*.py")} - {"__main__"})
    script = (
        "import json, sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded()\n"
        f"print(json.dumps([name for name in {stems!r} if name in sys.modules]))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "operators" in stems and "items" in stems
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_a_dag_processor_parse_imports_no_aws_sdk(tmp_path):
    # The dag-processor imports the Airflow modules a DAG file names before it forks a parser for
    # the file; what the parse itself imports, it imports again at every parse of the file.
    config = write_backups_config(tmp_path / "backups.yaml", ENTRY)
    script = (
        "import importlib, json, sys\n"
        "from airflow.utils.file import iter_airflow_imports\n"
        "from airflow_runs import dag_bag\n"
        "path = sys.argv[1]\n"
        "for module in iter_airflow_imports(path):\n"
        "    importlib.import_module(module)\n"
        "before = set(sys.modules)\n"
        "bag = dag_bag(path)\n"
        "assert bag.dags and not bag.import_errors, bag.import_errors\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {**os.environ, "COGNITO_BACKUP_CONFIG": str(config),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "tests")])}
    for path in sorted((ROOT / "dags").glob("*.py")):
        run = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        imported = json.loads(run.stdout.strip().splitlines()[-1])
        assert "cognito_backup.config" in imported  # the parse did import the package
        sdk = {"boto3", "boto3.session", "botocore", "botocore.session", "botocore.client", "urllib3", "requests"}
        assert not sdk & set(imported), (path.name, sorted(sdk & set(imported)))


def test_every_param_schema_is_draft_7(tmp_path):
    from jsonschema import Draft7Validator

    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    bag = parse()
    for dag in bag.dags.values():
        for name, param in dag.params.items():
            assert param.schema.get("$schema") == Draft7Validator.META_SCHEMA["$schema"], (dag.dag_id, name)
            Draft7Validator.check_schema(param.schema)


def run_params(dag, task, conf: dict | None) -> dict:
    """The params a task of `dag` sees at run time, as Airflow merges them."""
    try:
        from airflow.sdk.definitions.param import process_params
    except ImportError:  # Airflow 2.x: the run's conf comes with its DagRun
        from types import SimpleNamespace

        from airflow.models.param import process_params as merge

        return merge(dag, task, SimpleNamespace(conf=conf), suppress_exception=True)
    return process_params(dag, task, conf, suppress_exception=True)


def test_tasks_take_their_params_from_the_dag_without_a_copy_each(tmp_path):
    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    for dag in parse().dags.values():
        assert dag.params, dag.dag_id
        for task in dag.tasks:
            # A copy each was most of what the dag-processor serialised and checked at every parse.
            assert not task.params, f"{dag.dag_id}.{task.task_id} holds a copy of the DAG's params"
            # At run time a task still sees every param, with its default or the run's value.
            defaults = run_params(dag, task, None)
            assert set(defaults) == set(dag.params), f"{dag.dag_id}.{task.task_id}"
            name, value = next((k, v) for k, v in defaults.items() if isinstance(v, bool))
            assert run_params(dag, task, {name: not value})[name] is (not value)


def test_every_task_retries_with_backoff_and_has_a_timeout(tmp_path):
    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    bag = parse()
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            assert task.retry_exponential_backoff, f"{dag.dag_id}.{task.task_id} retries without backoff"
            assert task.execution_timeout, f"{dag.dag_id}.{task.task_id} has no execution timeout"


def test_export_dag_shape(tmp_path):
    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    dag = parse().dags["cognito_export_integrity"]
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.get_task("finish").outlets
    listing = {"users.shard", "groups_and_memberships.groups", "groups_and_memberships.memberships"}
    # Deletions are decided once every listing task has finished, then the manifest is written.
    assert set(dag.get_task("finish").upstream_task_ids) == {"prepare", *listing}
    assert set(dag.get_task("users.shard").upstream_task_ids) == {"prepare"}
    assert set(dag.get_task("groups_and_memberships.groups").upstream_task_ids) == {"prepare"}


def test_a_bad_config_fails_parsing_with_the_entry_and_key(tmp_path):
    path = tmp_path / "backups.yaml"
    write_backups_config(path, {**ENTRY, "cognito_tps": 0})
    errors = parse(ROOT / "dags" / "cognito_export.py").import_errors
    assert any("entry #1 (integrity): key 'cognito_tps'" in message for message in errors.values())


def test_both_dags_carry_their_docs_and_only_the_import_starts_unpaused(tmp_path, monkeypatch):
    runbook = "https://runbooks.example.com/cognito-backup"
    monkeypatch.setenv("AIRFLOW__COGNITO_BACKUP__RUNBOOK_URL", runbook)
    write_backups_config(tmp_path / "backups.yaml", ENTRY)
    bag = parse()
    export, restore = bag.dags["cognito_export_integrity"], bag.dags["cognito_import"]
    # Triggered by hand only: paused, its runs would wait in the queue with nothing saying why.
    assert restore.is_paused_upon_creation is False
    assert export.is_paused_upon_creation is None  # Airflow's setting decides (README)
    for name in restore.params:
        assert f"`{name}`" in restore.doc_md, f"the import DAG's doc does not explain {name}"
    for name in export.params:
        assert f"`{name}`" in export.doc_md, f"the export DAG's doc does not explain {name}"
    assert ENTRY["user_pool_id"] in export.doc_md and ENTRY["table_name"] in export.doc_md
    for doc in (export.doc_md, restore.doc_md):
        assert f"]({runbook})" in doc and "$" not in doc
    assert "report" in restore.get_task("verify").doc_md and "metrics" in export.get_task("finish").doc_md
