"""DynamoDB: the backup table's settings, and global tables (version 2019.11.21)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.testing import Emulator

PRIMARY = "us-east-1"
BACKUP = "us-west-2"
TABLE = "cognito-backup"


def key(item_id: str, item_type: str) -> dict[str, Any]:
    return {"id": {"S": item_id}, "type": {"S": item_type}}


def create_backup_table(dynamodb: Any) -> dict[str, Any]:
    """The table format the backup uses (see reference section 2)."""
    description = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "type", "AttributeType": "S"},
            {"AttributeName": "shard", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-shard",
                "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["username"]},
            }
        ],
    )["TableDescription"]
    dynamodb.update_continuous_backups(TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return description


def wait_for_replicas(dynamodb: Any, timeout: float = 10) -> list[str]:
    """Poll DescribeTable until every replica is ACTIVE; the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = dynamodb.describe_table(TableName=TABLE)["Table"]
        statuses = [replica["ReplicaStatus"] for replica in table.get("Replicas", [])]
        seen.append(f"{table['TableStatus']}:{','.join(statuses)}")
        if table["TableStatus"] == "ACTIVE" and all(status == "ACTIVE" for status in statuses):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"replicas not ACTIVE: {seen[-1]}")


@pytest.fixture
def regions(aws: Emulator) -> tuple[Any, Any]:
    retries = {"mode": "standard", "total_max_attempts": 1}
    return aws.client("dynamodb", PRIMARY, retries=retries), aws.client("dynamodb", BACKUP, retries=retries)


@pytest.fixture
def global_table(aws: Emulator, regions: tuple[Any, Any]) -> tuple[Any, Any]:
    primary, backup = regions
    aws.set_config(replica_delay=0.3)
    create_backup_table(primary)
    primary.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": BACKUP}}])
    wait_for_replicas(primary)
    return primary, backup


def test_backup_table_settings_are_kept(regions: tuple[Any, Any]) -> None:
    primary, _ = regions
    create_backup_table(primary)
    table = primary.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    index = table["GlobalSecondaryIndexes"][0]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["username"]}
    backups = primary.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    primary.put_item(TableName=TABLE, Item={**key("USER-1", "USER"), "shard": {"S": "a"}, "username": {"S": "zoë"}, "secret": {"S": "x"}})
    projected = primary.query(
        TableName=TABLE, IndexName="by-shard", KeyConditionExpression="shard = :s", ExpressionAttributeValues={":s": {"S": "a"}}
    )["Items"]
    assert projected == [{**key("USER-1", "USER"), "shard": {"S": "a"}, "username": {"S": "zoë"}}]


def test_adding_a_replica_goes_through_creating(aws: Emulator, regions: tuple[Any, Any]) -> None:
    primary, backup = regions
    create_backup_table(primary)
    primary.put_item(TableName=TABLE, Item={**key("USER-1", "USER"), "username": {"S": "before"}})

    updated = primary.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": BACKUP}}])["TableDescription"]
    assert updated["Replicas"] == [{"RegionName": BACKUP, "ReplicaStatus": "CREATING"}]
    assert updated["TableStatus"] == "UPDATING"
    assert backup.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "CREATING"

    seen = wait_for_replicas(primary)
    assert seen[0].startswith("UPDATING:CREATING")
    primary.get_waiter("table_exists").wait(TableName=TABLE)
    backup.get_waiter("table_exists").wait(TableName=TABLE)

    for client, other in ((primary, BACKUP), (backup, PRIMARY)):
        table = client.describe_table(TableName=TABLE)["Table"]
        assert table["GlobalTableVersion"] == "2019.11.21"
        assert table["Replicas"] == [{"RegionName": other, "ReplicaStatus": "ACTIVE"}]
    replica = backup.describe_table(TableName=TABLE)["Table"]
    assert replica["KeySchema"] == primary.describe_table(TableName=TABLE)["Table"]["KeySchema"]
    assert replica["GlobalSecondaryIndexes"][0]["IndexName"] == "by-shard"
    assert replica["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert replica["SSEDescription"]["Status"] == "ENABLED"
    assert backup.get_item(TableName=TABLE, Key=key("USER-1", "USER"))["Item"]["username"] == {"S": "before"}


def test_writes_replicate_both_ways(aws: Emulator, global_table: tuple[Any, Any]) -> None:
    primary, backup = global_table
    mark = aws.mark()
    primary.put_item(TableName=TABLE, Item={**key("USER-1", "USER"), "tags": {"SS": ["a", "b"]}, "attrs": {"L": [{"M": {"Name": {"S": "email"}}}]}})
    assert backup.get_item(TableName=TABLE, Key=key("USER-1", "USER"))["Item"]["attrs"] == {"L": [{"M": {"Name": {"S": "email"}}}]}

    backup.update_item(
        TableName=TABLE, Key=key("USER-1", "USER"), UpdateExpression="SET lastUpdatedRegion = :r", ExpressionAttributeValues={":r": {"S": BACKUP}}
    )
    assert primary.get_item(TableName=TABLE, Key=key("USER-1", "USER"), ConsistentRead=True)["Item"]["lastUpdatedRegion"] == {"S": BACKUP}

    primary.batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": key(f"GROUP_MEMBER-g{index}", f"GROUP_MEMBER-{index}")}} for index in range(25)]}
    )
    assert backup.scan(TableName=TABLE, Select="COUNT")["Count"] == 26

    backup.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": key("GROUP-admins", "GROUP")}},
            {"Delete": {"TableName": TABLE, "Key": key("GROUP_MEMBER-g0", "GROUP_MEMBER-0")}},
        ]
    )
    primary.delete_item(TableName=TABLE, Key=key("USER-1", "USER"))
    for client in (primary, backup):
        ids = sorted(item["id"]["S"] for item in client.scan(TableName=TABLE)["Items"])
        assert "GROUP-admins" in ids and "USER-1" not in ids and "GROUP_MEMBER-g0" not in ids
        assert len(ids) == 25

    writes = [record for record in aws.requests(since=mark) if record.get("writes")]
    assert [record["operation"] for record in writes] == ["PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"]


def test_removing_a_replica(aws: Emulator, global_table: tuple[Any, Any]) -> None:
    primary, backup = global_table
    primary.update_table(TableName=TABLE, ReplicaUpdates=[{"Delete": {"RegionName": BACKUP}}])
    assert primary.describe_table(TableName=TABLE)["Table"]["Replicas"] == [{"RegionName": BACKUP, "ReplicaStatus": "DELETING"}]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            backup.describe_table(TableName=TABLE)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundException"
            break
        time.sleep(0.1)
    else:
        raise AssertionError("replica table still exists")
    table = primary.describe_table(TableName=TABLE)["Table"]
    assert "Replicas" not in table and table["TableStatus"] == "ACTIVE"
    primary.put_item(TableName=TABLE, Item=key("USER-2", "USER"))  # writes no longer replicate anywhere


def test_bad_replica_updates_are_validation_errors(global_table: tuple[Any, Any]) -> None:
    primary, _ = global_table
    for update in ({"Create": {"RegionName": BACKUP}}, {"Create": {"RegionName": PRIMARY}}, {"Delete": {"RegionName": "eu-west-1"}}):
        with pytest.raises(ClientError) as error:
            primary.update_table(TableName=TABLE, ReplicaUpdates=[update])
        assert error.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as error:
        primary.update_table(TableName="no-such-table", ReplicaUpdates=[{"Create": {"RegionName": BACKUP}}])
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
