"""The CloudFormation templates of include/: they lint clean, and the table template declares the
table the export DAG creates itself with `manage_table: true`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode

from cognito_backup.hooks.backup_table import BackupTableHook

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted([*(ROOT / "include" / "cloudformation").glob("*.yaml"), *(ROOT / "include" / "iam").glob("*.yaml")])
TABLE_TEMPLATE = ROOT / "include" / "cloudformation" / "backup-table.yaml"
# Regions the templates are checked in (resource types and properties differ by Region).
LINT_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


def load(path: Path) -> dict[str, Any]:
    """A template, with its short-form functions (!Sub, !If, ...) read as their long form."""
    template, problems = decode(str(path))
    assert not problems, [str(p) for p in problems]
    return template


def true_branch(value: Any) -> Any:
    """What a value is when its `Fn::If` conditions hold."""
    while isinstance(value, dict) and "Fn::If" in value:
        value = value["Fn::If"][1]
    return value


def test_there_are_templates():
    names = {str(path.relative_to(ROOT)) for path in TEMPLATES}
    assert {"include/cloudformation/backup-table.yaml", "include/cloudformation/freshness-alarm.yaml",
            "include/iam/export-policy.yaml",
            "include/iam/import-policy.yaml"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_template_lints_without_errors_or_warnings(path):
    problems = lint(path.read_text(encoding="utf-8"), regions=LINT_REGIONS)  # errors and warnings
    assert not problems, "\n".join(f"{p.rule.id} line {p.linenumber}: {p.message}" for p in problems)


def created_by_the_dag() -> dict[str, dict[str, Any]]:
    """The calls `BackupTableOperator` makes to set a table up (manage_table true), as the hook issues them."""
    client = mock.Mock()
    hook = BackupTableHook("cognito-backup-test", aws_conn_id=None, region_name="us-east-1")
    hook.client = client  # shadows the cached property: nothing reaches AWS
    hook.create()
    hook.enable_point_in_time_recovery()
    hook.enable_ttl()
    return {
        "create": client.create_table.call_args.kwargs,
        "pitr": client.update_continuous_backups.call_args.kwargs,
        "ttl": client.update_time_to_live.call_args.kwargs,
    }


def by_name(entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {entry[key]: entry for entry in entries}


def test_table_template_declares_the_table_the_dag_creates():
    calls = created_by_the_dag()
    create = calls["create"]
    table = load(TABLE_TEMPLATE)["Resources"]["BackupTable"]
    assert table["Type"] == "AWS::DynamoDB::GlobalTable"
    props = table["Properties"]

    assert props["KeySchema"] == create["KeySchema"]
    assert by_name(props["AttributeDefinitions"], "AttributeName") == by_name(create["AttributeDefinitions"], "AttributeName")
    assert by_name(props["GlobalSecondaryIndexes"], "IndexName") == by_name(create["GlobalSecondaryIndexes"], "IndexName")
    assert props["BillingMode"] == create["BillingMode"]
    assert create["StreamSpecification"]["StreamEnabled"]
    assert props["StreamSpecification"] == {"StreamViewType": create["StreamSpecification"]["StreamViewType"]}
    # The hook enables encryption with no key: KMS with the AWS managed key, as the template does
    # unless KmsKeyId names a customer managed key.
    assert create["SSESpecification"] == {"Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert props["TimeToLiveSpecification"] == calls["ttl"]["TimeToLiveSpecification"]

    replicas = [true_branch(replica) for replica in props["Replicas"]]
    assert replicas[0]["Region"] == {"Ref": "AWS::Region"}
    assert [r["Region"] for r in replicas[1:]] == [{"Ref": "BackupRegion1"}, {"Ref": "BackupRegion2"}]
    for replica in replicas:
        assert replica["PointInTimeRecoverySpecification"] == calls["pitr"]["PointInTimeRecoverySpecification"]
        assert replica["Tags"] == create["Tags"]
        assert true_branch(replica["SSESpecification"]) == {"KMSMasterKeyId": {"Ref": "KmsKeyId"}}


def test_table_and_replicas_outlive_the_stack():
    table = load(TABLE_TEMPLATE)["Resources"]["BackupTable"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_table_template_outputs_what_the_configuration_needs():
    outputs = load(TABLE_TEMPLATE)["Outputs"]
    assert outputs["TableName"]["Value"] == {"Ref": "BackupTable"}
    assert outputs["TableArn"]["Value"] == {"Fn::GetAtt": ["BackupTable", "Arn"]}
    assert outputs["TopicArn"] == {**outputs["TopicArn"], "Condition": "CreateTopic", "Value": {"Ref": "NotificationTopic"}}
