"""The figures of a completed export, where operators watch the rest of their infrastructure.

- CloudWatch, namespace `CognitoBackup`, dimension `Backup` (the backups entry's name): one
  datum per count of the manifest, `ExportCompleted` (1) and `DurationSeconds`. The freshness
  alarm (include/cloudformation/freshness-alarm.yaml) fires when `ExportCompleted` stops coming.
- Airflow's metrics (StatsD or OpenTelemetry, as its `[metrics]` section says): the same figures
  as counters `cognito_backup.<name>.<count>` and `cognito_backup.<name>.export_completed`, and
  the timer `cognito_backup.<name>.export_duration`, tagged `backup=<name>`.

Counts only, never a user's data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cognito_backup.compat import Stats
from cognito_backup.hooks.cloudwatch import CloudWatchMetricsHook

NAMESPACE = "CognitoBackup"
DIMENSION = "Backup"
COMPLETED = "ExportCompleted"
DURATION = "DurationSeconds"
# Published as 0 when the manifest has no such count, so that alarms on them always have data.
ALWAYS = ("users_held_back", "groups_held_back", "memberships_held_back", "throttled_calls")


def metric_name(count: str) -> str:
    """`users_held_back` -> `UsersHeldBack`."""
    return "".join(part.capitalize() for part in count.split("_"))


def export_figures(counts: dict[str, int]) -> dict[str, int]:
    """Every count of the manifest, and those of `ALWAYS` (0 when absent)."""
    return {**dict.fromkeys(ALWAYS, 0), **{key: int(value) for key, value in counts.items()}}


def metric_data(name: str, counts: dict[str, int], duration_seconds: float) -> list[dict[str, Any]]:
    """PutMetricData's `MetricData` for one completed export of backup `name`."""
    dimensions = [{"Name": DIMENSION, "Value": name}]
    data = [{"MetricName": COMPLETED, "Dimensions": dimensions, "Value": 1, "Unit": "Count"}]
    data += [
        {"MetricName": metric_name(key), "Dimensions": dimensions, "Value": value, "Unit": "Count"}
        for key, value in sorted(export_figures(counts).items())
    ]
    data.append({"MetricName": DURATION, "Dimensions": dimensions, "Value": duration_seconds, "Unit": "Seconds"})
    return data


def publish_export(
    name: str, counts: dict[str, int], duration_seconds: float, *, aws_conn_id: str | None, region_name: str | None,
    caller: str,
) -> None:
    """Publish one completed export of backup `name` to CloudWatch and to Airflow's metrics."""
    hook = CloudWatchMetricsHook(aws_conn_id=aws_conn_id, region_name=region_name, caller=caller)
    hook.put_metric_data(NAMESPACE, metric_data(name, counts, duration_seconds))
    tags = {"backup": name}
    Stats.incr(f"cognito_backup.{name}.export_completed", tags=tags)
    for key, value in export_figures(counts).items():
        Stats.incr(f"cognito_backup.{name}.{key}", count=value, tags=tags)
    Stats.timing(f"cognito_backup.{name}.export_duration", timedelta(seconds=duration_seconds), tags=tags)
