"""The Airflow UI as an operator uses it, in headless chromium, against a whole Airflow on the
emulator: both DAG pages show their docs, the import DAG waits unpaused, a restore is started
from the Trigger form and succeeds, and a bad value in the form starts nothing."""

from __future__ import annotations

import json

import boto3

from restore.import_runs import assert_restored

IMPORT = "cognito_import"
RUNBOOK = "https://runbooks.example.com/cognito-backup"


def import_runs(airflow) -> list[str]:
    return [run_id for (run_id,) in airflow.query("SELECT run_id FROM dag_run WHERE dag_id = ?", IMPORT)]


def test_both_dag_pages_show_their_docs(browser, ui_backup):
    docs = browser.dag_docs(IMPORT)
    browser.shot("import-docs")
    assert "Restore a Cognito backup" in docs and RUNBOOK in docs
    for param in ("backup_table", "table_region", "create_target_pool", "report_s3_uri", "dry_run", "strategy"):
        assert param in docs

    docs = browser.dag_docs(ui_backup.dag_id)
    browser.shot("export-docs")
    assert f"Cognito backup {ui_backup.name}" in docs and ui_backup.pool_id in docs and ui_backup.table in docs
    assert "full_refresh" in docs and RUNBOOK in docs


def test_the_import_dag_waits_unpaused_and_the_export_follows_airflows_setting(browser, airflow, paused_at_creation,
                                                                               ui_backup):
    # The stack keeps Airflow's default, DAGs paused at creation: the import DAG overrides it.
    assert paused_at_creation == {IMPORT: False, ui_backup.dag_id: True}
    assert not browser.is_paused_in_ui(IMPORT)
    browser.shot("import-unpaused")


def test_a_bad_value_shows_the_forms_message_and_starts_nothing(browser, airflow, exported, ui_backup):
    before = import_runs(airflow)
    browser.open_trigger_form(IMPORT)
    browser.fill("backup_table", ui_backup.table)
    browser.fill("table_region", "not a region")
    browser.switch_on("create_target_pool")
    browser.submit()
    message = browser.wait_for_message("Invalid input for param table_region")
    browser.shot("trigger-form-bad-region")
    assert "does not match" in message.text
    assert import_runs(airflow) == before


def test_a_restore_triggered_from_the_form_succeeds(browser, airflow, exported, ui_backup):
    run_id = "ui_restore"
    browser.open_trigger_form(IMPORT)
    browser.fill("backup_table", ui_backup.table)
    browser.fill("table_region", ui_backup.backup_region)  # a drill: the backup Region's replica, into a new pool there
    browser.switch_on("create_target_pool")
    browser.fill("report_s3_uri", f"s3://{ui_backup.report_bucket}/drills")
    browser.set_run_id(run_id)
    browser.shot("trigger-form-filled")
    browser.submit()

    state = airflow.wait_for_run(IMPORT, run_id, timeout=600)
    badge = browser.run_state_in_ui(IMPORT, run_id)
    browser.shot("restore-run")
    assert state == "success", airflow.log_tail("scheduler")
    assert badge == "Success"

    [(prepared,)] = airflow.query("SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
                                  IMPORT, run_id, "target.prepare", "return_value")
    target = json.loads(prepared)["user_pool_id"]
    assert target.startswith(ui_backup.backup_region + "_")
    assert_restored(ui_backup.region, ui_backup.pool_id, ui_backup.backup_region, target)
    report = boto3.client("s3", region_name=ui_backup.region).get_object(
        Bucket=ui_backup.report_bucket, Key=f"drills/{run_id}/report.json")
    assert json.loads(report["Body"].read())["verification"]["ok"] is True


def test_the_scheduled_export_reported_its_metrics(statsd, exported, ui_backup):
    # Airflow's task runner sets up StatsD in each task process: the figures arrive from there.
    prefix = f"airflow.cognito_backup.{ui_backup.name}."
    statsd.wait_for(prefix + "export_completed")
    counters = statsd.metrics(prefix, "c")
    assert counters[prefix + "export_completed"] == [1]
    assert counters[prefix + "users_written"] == [60]
    cloudwatch = boto3.client("cloudwatch", region_name=ui_backup.region)
    listed = cloudwatch.list_metrics(Namespace="CognitoBackup", MetricName="ExportCompleted")["Metrics"]
    assert {"Name": "Backup", "Value": ui_backup.name} in [d for m in listed for d in m["Dimensions"]]
