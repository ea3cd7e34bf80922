"""Fixtures of the browser tests: a whole Airflow (api-server, scheduler, dag-processor,
triggerer) on the session's emulator, a backup it has exported, a StatsD server its metrics go
to, and a headless chromium. `make test-ui` runs them (`pytest --ui tests/ui`); screenshots
are kept in .artifacts/ui/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml

from airflow_stack import ROOT, AirflowStack, airflow_env
from statsd_listener import StatsdListener
from browser import CHROMEDRIVER, CHROMIUM, Browser

REGION = "us-east-1"
BACKUP_REGION = "us-west-2"
ARTIFACTS = ROOT / ".artifacts" / "ui"


@dataclass(frozen=True)
class UiBackup:
    name: str
    pool_id: str
    table: str
    report_bucket: str
    region: str = REGION
    backup_region: str = BACKUP_REGION

    @property
    def dag_id(self) -> str:
        return f"cognito_export_{self.name}"


@pytest.fixture(scope="session")
def ui_backup(emulator, tmp_path_factory) -> UiBackup:
    """A seeded pool, its backups entry (triggered only) and a bucket for restore reports."""
    backup = UiBackup("ui", emulator.seed(REGION, users=60, groups=4, seed=21), "cognito-backup-ui", "restore-reports")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=backup.report_bucket)
    return backup


@pytest.fixture(scope="session")
def statsd() -> Iterator[StatsdListener]:
    with StatsdListener() as listener:
        yield listener


@pytest.fixture(scope="session")
def airflow(emulator, ui_backup, statsd, tmp_path_factory) -> Iterator[AirflowStack]:
    """The stack, with Airflow's own defaults where the tests judge them (DAGs paused at creation)."""
    work = tmp_path_factory.mktemp("airflow-ui")
    config = work / "backups.yaml"
    config.write_text(yaml.safe_dump({"backups": [{
        "name": ui_backup.name, "user_pool_id": ui_backup.pool_id, "region": REGION,
        "table_name": ui_backup.table, "backup_regions": [BACKUP_REGION], "schedule": None, "retries": 0,
    }, {
        # Its first run waits for a new table's replica (tests/ui/test_long_waits.py).
        "name": f"{ui_backup.name}_waits", "user_pool_id": ui_backup.pool_id, "region": REGION,
        "table_name": f"{ui_backup.table}-waits", "backup_regions": [BACKUP_REGION], "schedule": None, "retries": 0,
    }]}))
    env = airflow_env(work / "home", emulator.env(REGION), config)
    env.update({
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # No login: everyone is admin (as in docker-compose.yaml).
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret",
        "AIRFLOW__API__SECRET_KEY": "ui-test-secret-key",
        "AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN": "arn:aws:iam::123456789012:role/CognitoImportLogs",
        "AIRFLOW__COGNITO_BACKUP__RUNBOOK_URL": "https://runbooks.example.com/cognito-backup",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
    })
    with AirflowStack(env) as stack:
        stack.wait_for_dag("cognito_import")
        stack.wait_for_dag(ui_backup.dag_id)
        yield stack


@pytest.fixture(scope="session")
def paused_at_creation(airflow, ui_backup) -> dict[str, bool]:
    """Each DAG's pause state as the DAG processor created it, before any test touched it."""
    rows = airflow.query("SELECT dag_id, is_paused FROM dag WHERE dag_id IN (?, ?)", "cognito_import", ui_backup.dag_id)
    return {dag_id: bool(paused) for dag_id, paused in rows}


@pytest.fixture(scope="session")
def exported(airflow, ui_backup, paused_at_creation) -> str:
    """A completed export of the backup, run by the scheduler; its run id."""
    airflow.cli("dags", "unpause", ui_backup.dag_id)
    run_id = "ui_export"
    airflow.cli("dags", "trigger", ui_backup.dag_id, "--run-id", run_id)
    state = airflow.wait_for_run(ui_backup.dag_id, run_id, timeout=300)
    assert state == "success", airflow.log_tail("scheduler")
    return run_id


@pytest.fixture(scope="session")
def browser(airflow) -> Iterator[Browser]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: `make test-ui` installs Debian's "
                    "chromium and chromium-driver")
    opened = Browser(airflow.url, ARTIFACTS)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def last_screen(request) -> Iterator[None]:
    """Each test's last screen, passed or failed, as an artifact."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").shot(f"{request.node.name}-end")
