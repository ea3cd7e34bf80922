"""The freshness alarm of include/cloudformation/: it watches what a completed export publishes,
and on the emulator's CloudWatch it would fire exactly when no export completed in its window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode

from cognito_backup import config, metrics

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "include" / "cloudformation" / "freshness-alarm.yaml"
REGION = "us-east-1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:cognito-backup"


def template() -> dict[str, Any]:
    found, problems = decode(str(TEMPLATE))
    assert not problems, [str(p) for p in problems]
    return found


def resolve(value: Any, params: dict[str, Any]) -> Any:
    """A property with the template's `Ref`s and `Fn::Sub`s of parameters replaced by `params`."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{(\w+)\}", lambda m: str(params[m.group(1)]), value["Fn::Sub"])
    if isinstance(value, dict):
        return {key: resolve(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, params) for item in value]
    return value


def alarm_properties(backup: str, hours: int) -> dict[str, Any]:
    alarm = template()["Resources"]["FreshnessAlarm"]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    return resolve(alarm["Properties"], {"BackupName": backup, "FreshnessHours": hours, "TopicArn": TOPIC})


def state_now(alarm: dict[str, Any]) -> str:
    """The state CloudWatch gives the alarm from the metric's data of its last evaluation periods."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(timezone.utc) + timedelta(minutes=1)  # the emulator leaves out data of the last second
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {
            "Metric": {key: alarm[key] for key in ("Namespace", "MetricName", "Dimensions")},
            "Period": alarm["Period"], "Stat": alarm["Statistic"],
        }}],
        StartTime=now - timedelta(seconds=alarm["Period"] * alarm["EvaluationPeriods"]), EndTime=now,
    )["MetricDataResults"][0]
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    values = result["Values"]
    missing = alarm["EvaluationPeriods"] - len(values)
    breaching = sum(value < alarm["Threshold"] for value in values)
    breaching += missing if alarm["TreatMissingData"] == "breaching" else 0
    return "ALARM" if breaching >= alarm["DatapointsToAlarm"] else "OK"


def test_the_alarm_watches_the_exports_completions():
    props = template()["Resources"]["FreshnessAlarm"]["Properties"]
    assert props["Namespace"] == metrics.NAMESPACE
    assert props["MetricName"] == metrics.COMPLETED
    assert props["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": {"Ref": "BackupName"}}]
    # Silence is what it is for: no data is breaching, and it tells the topic both ways.
    assert props["TreatMissingData"] == "breaching"
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "TopicArn"}]


def test_the_parameters_take_what_the_configuration_takes():
    params = template()["Parameters"]
    assert params["BackupName"]["AllowedPattern"] == config.NAME.pattern
    assert params["TopicArn"]["AllowedPattern"] == config.TOPIC.pattern
    # CloudWatch evaluates an alarm of one-hour periods over 7 days at most.
    props = alarm_properties("main", params["FreshnessHours"]["MaxValue"])
    assert props["Period"] * props["EvaluationPeriods"] <= 7 * 24 * 3600


def test_the_alarm_fires_when_no_export_completed_within_its_window(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    # An export of "fresh" completes now; the last of "late" 27 hours ago; "never" has none.
    metrics.publish_export("fresh", {"users_written": 3}, 12.5, aws_conn_id="aws_default", region_name=REGION,
                           caller="WriteManifestOperator")
    late = metrics.metric_data("late", {"users_written": 3}, 12.5)
    for datum in late:
        datum["Timestamp"] = datetime.now(timezone.utc) - timedelta(hours=27)
    cloudwatch.put_metric_data(Namespace=metrics.NAMESPACE, MetricData=late)

    states = {}
    for backup in ("fresh", "late", "never"):
        alarm = alarm_properties(backup, 26)
        cloudwatch.put_metric_alarm(**alarm)  # the emulator takes the template's alarm as CloudWatch would
        states[backup] = state_now(alarm)
    assert states == {"fresh": "OK", "late": "ALARM", "never": "ALARM"}
    # With a window of 28 hours, the late one is still fresh.
    assert state_now(alarm_properties("late", 28)) == "OK"

    described = cloudwatch.describe_alarms(AlarmNamePrefix="cognito-backup-")["MetricAlarms"]
    assert {a["AlarmName"] for a in described} == {f"cognito-backup-{b}-stale" for b in ("fresh", "late", "never")}
    assert all(a["TreatMissingData"] == "breaching" and a["AlarmActions"] == [TOPIC] for a in described)


@pytest.mark.parametrize("hours", [1, 169])
def test_windows_cloudwatch_cannot_evaluate_are_refused(hours):
    params = template()["Parameters"]["FreshnessHours"]
    assert not params["MinValue"] <= hours <= params["MaxValue"]
