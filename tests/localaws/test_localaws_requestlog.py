"""The request log: one record per AWS call, with DynamoDB capacity and written keys."""

from __future__ import annotations

import time
from typing import Any

import pytest

from localaws import requestlog
from localaws.testing import Emulator

REGION = "us-east-1"
TABLE = "log-test"
BLOB = "x" * 1500  # items of ~1.5 KB: 2 write units, and three of them span 2 read units


def key(item_id: str) -> dict[str, Any]:
    return {"id": {"S": item_id}, "type": {"S": "USER"}}


@pytest.fixture
def table(aws: Emulator, dynamodb: Any) -> Any:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "type", "AttributeType": "S"},
            {"AttributeName": "shard", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "by-shard", "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}
        ],
    )
    return dynamodb


def only(aws: Emulator, mark: int) -> dict[str, Any]:
    records = aws.requests(since=mark)
    assert len(records) == 1, records
    return records[0]


def test_cognito_records_name_the_user_and_group_a_call_touches(aws: Emulator, cognito: Any) -> None:
    pool = cognito.create_user_pool(PoolName="targets")["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool, GroupName="staff")
    mark = aws.mark()
    cognito.admin_create_user(UserPoolId=pool, Username="zoë", MessageAction="SUPPRESS")
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="zoë", GroupName="staff")
    cognito.list_groups(UserPoolId=pool)
    records = aws.requests(since=mark)
    assert [r.get("target") for r in records] == [{"user": "zoë"}, {"user": "zoë", "group": "staff"}, None]
    assert [r.get("pool") for r in records] == [pool, pool, pool]
    mark = aws.mark()
    cognito.list_user_pools(MaxResults=5)
    assert "pool" not in only(aws, mark)


def test_cognito_record_shape(aws: Emulator, cognito: Any) -> None:
    aws.set_config(latency_ms=30)
    mark = aws.mark()
    before = time.time()
    cognito.list_user_pools(MaxResults=5)
    record = only(aws, mark)
    assert set(record) == {"time", "queued", "duration", "service", "operation", "region", "category", "outcome", "status", "agent"}
    assert record["agent"] is None  # a plain SDK call
    assert before - 0.5 <= record["time"] <= before + 0.5
    assert record["duration"] >= 0.03
    assert (record["service"], record["operation"], record["region"]) == ("cognito-idp", "ListUserPools", REGION)
    assert (record["category"], record["outcome"], record["status"]) == ("Other", "ok", 200)

    mark = aws.mark()
    with pytest.raises(Exception):
        cognito.admin_get_user(UserPoolId="us-east-1_missing", Username="x")
    record = only(aws, mark)
    assert (record["category"], record["outcome"], record["status"]) == ("UserRead", "error:ResourceNotFoundException", 400)


def test_control_calls_are_not_logged(aws: Emulator) -> None:
    mark = aws.mark()
    aws.health()
    aws.seed(REGION, users=2, groups=1)
    aws.set_faults([])
    aws.set_config(latency_ms=0)
    assert aws.requests(since=mark) == []


def test_write_capacity_and_keys(aws: Emulator, table: Any) -> None:
    expectations = [
        (lambda: table.put_item(TableName=TABLE, Item={**key("USER-1"), "shard": {"S": "a"}, "blob": {"S": BLOB}}), 3, [["USER-1", "USER"]]),
        (lambda: table.put_item(TableName=TABLE, Item={**key("USER-2"), "blob": {"S": BLOB}}), 2, [["USER-2", "USER"]]),
        (
            lambda: table.update_item(
                TableName=TABLE, Key=key("USER-2"), UpdateExpression="SET more = :m", ExpressionAttributeValues={":m": {"S": "y" * 700}}
            ),
            3,
            [["USER-2", "USER"]],
        ),
        (lambda: table.delete_item(TableName=TABLE, Key=key("USER-1")), 3, [["USER-1", "USER"]]),
        (
            lambda: table.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": key("USER-3")}}, {"DeleteRequest": {"Key": key("USER-2")}}]}
            ),
            1 + 3,
            [["USER-3", "USER"], ["USER-2", "USER"]],
        ),
        (lambda: table.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": key("USER-4")}}]), 2, [["USER-4", "USER"]]),
    ]
    for call, wcu, writes in expectations:
        mark = aws.mark()
        call()
        record = only(aws, mark)
        assert (record["table"], record["wcu"], record["rcu"], record["writes"]) == (TABLE, wcu, 0, writes), record["operation"]


def test_read_capacity(aws: Emulator, table: Any) -> None:
    for index in range(3):
        table.put_item(TableName=TABLE, Item={**key(f"USER-{index}"), "blob": {"S": BLOB}})
    reads = [
        (lambda: table.get_item(TableName=TABLE, Key=key("USER-0")), 0.5),
        (lambda: table.get_item(TableName=TABLE, Key=key("USER-0"), ConsistentRead=True), 1.0),
        (lambda: table.batch_get_item(RequestItems={TABLE: {"Keys": [key("USER-0"), key("USER-9")]}}), 1.0),
        (lambda: table.query(TableName=TABLE, KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "USER-0"}}), 0.5),
        (lambda: table.scan(TableName=TABLE), 1.0),  # 3 x 1.5 KB: 2 units, halved
        (lambda: table.scan(TableName=TABLE, ConsistentRead=True, FilterExpression="attribute_exists(nothing)"), 2.0),  # filtered items still cost
        (lambda: table.scan(TableName=TABLE, Select="COUNT"), 1.0),
    ]
    for call, rcu in reads:
        mark = aws.mark()
        call()
        record = only(aws, mark)
        assert (record["rcu"], record["wcu"]) == (rcu, 0), record
        assert "writes" not in record


def test_failed_and_refused_dynamodb_calls(aws: Emulator, table: Any) -> None:
    mark = aws.mark()
    with pytest.raises(Exception):
        table.put_item(TableName=TABLE, Item=key("USER-1"), ConditionExpression="attribute_exists(id)")
    record = only(aws, mark)
    assert (record["outcome"], record["wcu"], record["writes"]) == ("error:ConditionalCheckFailedException", 0, [])
    aws.set_faults([{"operation": "PutItem", "kind": "throttle"}])
    mark = aws.mark()
    with pytest.raises(Exception):
        table.put_item(TableName=TABLE, Item=key("USER-1"))
    record = only(aws, mark)
    assert (record["outcome"], record["status"], record["table"]) == ("fault", 400, TABLE)


def test_operations_of_rest_and_query_services_are_named(aws: Emulator) -> None:
    s3 = aws.client("s3", REGION)
    sns = aws.client("sns", REGION)
    mark = aws.mark()
    s3.create_bucket(Bucket="backup-exports")
    s3.put_object(Bucket="backup-exports", Key="2025/users.csv", Body=b"a,b\n")
    assert s3.head_object(Bucket="backup-exports", Key="2025/users.csv")["ContentLength"] == 4
    s3.get_object(Bucket="backup-exports", Key="2025/users.csv")["Body"].read()
    s3.list_objects_v2(Bucket="backup-exports")
    s3.delete_object(Bucket="backup-exports", Key="2025/users.csv")
    topic = sns.create_topic(Name="backup-events")["TopicArn"]
    sns.publish(TopicArn=topic, Message="export finished")
    records = aws.requests(since=mark)
    assert [(record["service"], record["operation"]) for record in records] == [
        ("s3", "CreateBucket"),
        ("s3", "PutObject"),
        ("s3", "HeadObject"),
        ("s3", "GetObject"),
        ("s3", "ListObjectsV2"),
        ("s3", "DeleteObject"),
        ("sns", "CreateTopic"),
        ("sns", "Publish"),
    ]
    assert all(record["category"] is None and record["outcome"] == "ok" for record in records)


def test_cloudwatch_calls_are_named_in_the_protocol_botocore_picks(aws: Emulator) -> None:
    # CloudWatch's model offers several protocols; the pinned botocore sends JSON with an
    # X-Amz-Target, signed as `monitoring` (the IAM coverage test maps that to `cloudwatch`).
    cloudwatch = aws.client("cloudwatch", "eu-west-1")
    mark = aws.mark()
    cloudwatch.put_metric_data(Namespace="CognitoBackup", MetricData=[{"MetricName": "ExportCompleted", "Value": 1}])
    cloudwatch.list_metrics(Namespace="CognitoBackup")
    records = aws.requests(since=mark)
    assert [(r["service"], r["operation"], r["region"], r["outcome"]) for r in records] == [
        ("monitoring", "PutMetricData", "eu-west-1", "ok"),
        ("monitoring", "ListMetrics", "eu-west-1", "ok"),
    ]


def test_calls_through_airflow_name_their_caller(aws: Emulator) -> None:
    """Airflow's AWS hooks append these fields to the User-Agent; other clients are plain SDK calls."""
    extra = "Airflow/3.0.6 AmPP/9.12.0 Caller/ExportUserShardOperator DagRunKey/0f1e2d3c MultiTeam/False"
    hooked = aws.client("cognito-idp", REGION, user_agent_extra=extra)
    unknown = aws.client("sns", REGION, user_agent_extra="Airflow/2.11.0 Caller/Unknown DagRunKey/9a8b7c6d")
    plain = aws.client("cognito-idp", REGION, user_agent_extra="Caller/NotAirflow")
    mark = aws.mark()
    hooked.list_user_pools(MaxResults=1)
    unknown.list_topics()
    plain.list_user_pools(MaxResults=1)
    assert [record["agent"] for record in aws.requests(since=mark)] == [
        {"airflow": "3.0.6", "caller": "ExportUserShardOperator", "dag_key": "0f1e2d3c"},
        {"airflow": "2.11.0", "caller": "Unknown", "dag_key": "9a8b7c6d"},
        None,
    ]


def test_reader_api(aws: Emulator, cognito: Any) -> None:
    cognito.list_user_pools(MaxResults=1)
    middle = requestlog.end_offset(aws.request_log)
    cognito.list_user_pools(MaxResults=2)
    assert requestlog.read(aws.request_log)[-1]["operation"] == "ListUserPools"
    assert len(requestlog.read(aws.request_log, since=middle)) == 1
