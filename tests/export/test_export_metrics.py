"""End to end: a completed export's figures in CloudWatch (read back with GetMetricData) and in
Airflow's metrics (a StatsD server on the loopback)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest

from airflow_runs import run_dag, task_states, write_backups_config
from backup_state import backup_state, table_items
from cognito_backup import items, metrics
from statsd_listener import StatsdListener

REGION = "us-east-1"
TABLE = "cognito-backup-metrics"
NAME = "metered"


def metric_values(name: str, metric: str, stat: str = "Sum") -> list[float]:
    """The values CloudWatch holds for one metric of backup `name`, over the last hour."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(timezone.utc)
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{
            "Id": "m",
            "MetricStat": {
                "Metric": {"Namespace": metrics.NAMESPACE, "MetricName": metric,
                           "Dimensions": [{"Name": metrics.DIMENSION, "Value": name}]},
                "Period": 3600, "Stat": stat,
            },
        }],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5),
    )["MetricDataResults"][0]
    return result["Values"]


@pytest.fixture
def statsd(monkeypatch):
    """Airflow's StatsD client, as a task process sets it up with `[metrics] statsd_on`, sending here."""
    from airflow.sdk.observability.metrics import stats_utils
    from airflow.sdk.observability.stats import initialize

    with StatsdListener() as listener:
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
        initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
        yield listener
        monkeypatch.undo()
        initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)


def test_export_publishes_its_figures(aws, tmp_path, statsd):
    pool_id = aws.seed(REGION, users=150, groups=8, seed=12)
    # Throttled listing calls, retried: the run counts them.
    aws.set_faults([
        {"service": "cognito-idp", "operation": "ListUsers", "kind": "throttle", "count": 2},
        {"service": "cognito-idp", "operation": "ListGroups", "kind": "throttle", "count": 1},
        {"service": "cognito-idp", "operation": "ListUsersInGroup", "kind": "throttle", "count": 2},
    ])
    write_backups_config(tmp_path / "backups.yaml", {"name": NAME, "user_pool_id": pool_id, "region": REGION,
                                                     "table_name": TABLE, "cognito_tps": 25, "retries": 0})
    run = run_dag(f"cognito_export_{NAME}")
    assert run.state == "success", task_states(run)
    throttled = sum(rule["injected"] for rule in aws.faults())
    assert throttled == 5
    aws.set_faults([])
    memberships = len(backup_state(table_items(REGION, TABLE))["memberships"])

    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    manifest = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
    assert manifest.counts["throttled_calls"] == throttled

    expected = {
        "ExportCompleted": 1, "UsersWritten": 150, "UsersDeleted": 0, "GroupsWritten": 8,
        "MembershipsWritten": memberships, "ThrottledCalls": throttled,
        # The deletion guard's counts, 0 until an export holds deletions back.
        "UsersHeldBack": 0, "GroupsHeldBack": 0, "MembershipsHeldBack": 0,
    }
    assert {metric: metric_values(NAME, metric) for metric in expected} == {m: [v] for m, v in expected.items()}
    assert 0 < metric_values(NAME, "DurationSeconds", "Maximum")[0] < 600
    assert metric_values("another", "ExportCompleted") == []  # per backup

    prefix = f"airflow.cognito_backup.{NAME}."
    statsd.wait_for(prefix + "export_duration")
    counters = statsd.metrics(prefix, "c")
    assert counters[prefix + "export_completed"] == [1]
    for key, value in (("users_written", 150), ("groups_written", 8), ("memberships_written", memberships),
                       ("throttled_calls", throttled), ("users_held_back", 0)):
        assert counters[prefix + key] == [value], key
    [duration_ms] = statsd.metrics(prefix, "ms")[prefix + "export_duration"]
    assert duration_ms == pytest.approx(manifest.duration_seconds * 1000, abs=5)
