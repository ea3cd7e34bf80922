"""DynamoDB point-in-time recovery: item histories, the restorable window, restores into new
tables (also from a replica in the backup Region), and DynamoDB's errors."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.testing import Emulator

PRIMARY = "us-east-1"
BACKUP = "us-west-2"
TABLE = "cognito-backup"
NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/backup-table-key"


def key(item_id: str, item_type: str = "USER") -> dict[str, Any]:
    return {"id": {"S": item_id}, "type": {"S": item_type}}


def item(item_id: str, value: str, **more: Any) -> dict[str, Any]:
    return {**key(item_id), "value": {"S": value}, **more}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def error_code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None


def create_table(dynamodb: Any, name: str = TABLE, stream: bool = False) -> None:
    """The backup table's shape, plus a local index."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "type", "AttributeType": "S"},
            {"AttributeName": "shard", "AttributeType": "S"},
            {"AttributeName": "value", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": KMS_KEY},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"} if stream else {"StreamEnabled": False},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-shard",
                "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-value",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "value", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def enable(dynamodb: Any, name: str = TABLE, **spec: Any) -> dict[str, Any]:
    reply = dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, **spec}
    )
    return reply["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]


def recovery(dynamodb: Any, name: str = TABLE) -> dict[str, Any]:
    return dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]


def wait_active(dynamodb: Any, name: str, timeout: float = 10) -> list[str]:
    """Poll DescribeTable until the table is ACTIVE; the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(dynamodb.describe_table(TableName=name)["Table"]["TableStatus"])
        if seen[-1] == "ACTIVE":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{name} not ACTIVE: {seen[-1]}")


def restored(dynamodb: Any, target: str, **request: Any) -> dict[str, dict[str, Any]]:
    """Restore TABLE into ``target``, wait for it, and return its items by id."""
    dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName=target, **request)
    wait_active(dynamodb, target)
    return {entry["id"]["S"]: entry for entry in dynamodb.scan(TableName=target, ConsistentRead=True)["Items"]}


@pytest.fixture
def dynamodb(aws: Emulator) -> Any:
    aws.set_config(pitr_lag=0, restore_delay=0.2)
    client = aws.client("dynamodb", PRIMARY, retries=NO_RETRIES)
    create_table(client)
    return client


def test_restore_between_two_writes_of_an_item_gets_the_first(dynamodb: Any) -> None:
    enable(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "first"))
    between = now()
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "second"))

    assert restored(dynamodb, "restored", RestoreDateTime=between)["USER-1"]["value"] == {"S": "first"}
    assert dynamodb.get_item(TableName=TABLE, Key=key("USER-1"))["Item"]["value"] == {"S": "second"}
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    dynamodb.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="by-arn", UseLatestRestorableTime=True)
    wait_active(dynamodb, "by-arn")
    assert dynamodb.get_item(TableName="by-arn", Key=key("USER-1"))["Item"]["value"] == {"S": "second"}


def test_restore_before_and_after_a_delete(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "kept"))  # before recovery: part of the base
    enable(dynamodb)
    before = now()
    dynamodb.delete_item(TableName=TABLE, Key=key("USER-1"))
    after = now()

    assert restored(dynamodb, "before-delete", RestoreDateTime=before)["USER-1"]["value"] == {"S": "kept"}
    assert "USER-1" not in restored(dynamodb, "after-delete", RestoreDateTime=after)


def test_every_kind_of_write_is_in_the_history(dynamodb: Any) -> None:
    enable(dynamodb)
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item(f"USER-{n}", "batch")}} for n in range(3)]})
    dynamodb.update_item(
        TableName=TABLE, Key=key("USER-0"), UpdateExpression="SET #v = :v", ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":v": {"S": "updated"}},
    )  # fmt: skip
    dynamodb.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": TABLE, "Key": key("USER-1")}},
            {"Put": {"TableName": TABLE, "Item": item("USER-3", "transact", data={"B": b"\x00\xff"})}},
        ]
    )
    moment = now()
    dynamodb.batch_write_item(
        RequestItems={TABLE: [{"DeleteRequest": {"Key": key("USER-0")}}, {"PutRequest": {"Item": item("USER-2", "later")}}]}
    )
    dynamodb.put_item(TableName=TABLE, Item=item("USER-4", "later"))

    items = restored(dynamodb, "restored", RestoreDateTime=moment)
    assert {name: entry["value"]["S"] for name, entry in items.items()} == {"USER-0": "updated", "USER-2": "batch", "USER-3": "transact"}
    assert items["USER-3"]["data"] == {"B": b"\x00\xff"}
    same_data = dynamodb.scan(
        TableName="restored", FilterExpression="#d = :b", ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":b": {"B": b"\x00\xff"}},
    )  # fmt: skip
    assert same_data["Count"] == 1  # stored as binary, not as its base64 text


def test_latest_restorable_time_trails_now_by_the_lag(aws: Emulator, dynamodb: Any) -> None:
    aws.set_config(pitr_lag=1.0)
    enable(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "old"))
    time.sleep(1.3)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "new"))  # newer than the latest restorable time
    assert restored(dynamodb, "lagging", UseLatestRestorableTime=True)["USER-1"]["value"] == {"S": "old"}
    summary = dynamodb.describe_table(TableName="lagging")["Table"]["RestoreSummary"]
    assert now() - datetime.timedelta(seconds=1.6) < summary["RestoreDateTime"] < now() - datetime.timedelta(seconds=0.9)

    aws.set_config(pitr_lag=0)
    assert restored(dynamodb, "current", UseLatestRestorableTime=True)["USER-1"]["value"] == {"S": "new"}


def test_the_restorable_window(aws: Emulator, dynamodb: Any) -> None:
    aws.set_config(pitr_lag=300)
    assert recovery(dynamodb) == {"PointInTimeRecoveryStatus": "DISABLED"}
    before = now()
    enabled = enable(dynamodb, RecoveryPeriodInDays=7)
    after = now()
    assert enabled["PointInTimeRecoveryStatus"] == "ENABLED" and enabled["RecoveryPeriodInDays"] == 7
    window = recovery(dynamodb)
    assert before <= window["EarliestRestorableDateTime"] <= after
    # Five minutes of lag reach back before the start: the latest time is the start.
    assert window["LatestRestorableDateTime"] == window["EarliestRestorableDateTime"]

    aws.set_config(pitr_lag=0)
    time.sleep(0.05)
    reading = now()
    window = recovery(dynamodb)
    assert window["EarliestRestorableDateTime"] < reading <= window["LatestRestorableDateTime"] <= now()

    # Off and on again: a new window, without the history before it.
    dynamodb.update_continuous_backups(TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert recovery(dynamodb) == {"PointInTimeRecoveryStatus": "DISABLED"}
    enable(dynamodb)
    assert recovery(dynamodb)["EarliestRestorableDateTime"] > reading
    assert recovery(dynamodb)["RecoveryPeriodInDays"] == 35
    code = error_code(lambda: dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="restored", RestoreDateTime=reading))
    assert code == "InvalidRestoreTimeException"


def test_restored_table_is_created_then_active(aws: Emulator, dynamodb: Any) -> None:
    aws.set_config(restore_delay=0.6)
    enable(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "v"))
    moment = now()
    reply = dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="restored", RestoreDateTime=moment)
    table = reply["TableDescription"]
    assert table["TableName"] == "restored" and table["TableStatus"] == "CREATING"
    source_arn = dynamodb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    assert table["RestoreSummary"]["SourceTableArn"] == source_arn
    assert table["RestoreSummary"]["RestoreInProgress"] is True
    assert abs(table["RestoreSummary"]["RestoreDateTime"] - moment) < datetime.timedelta(milliseconds=1)

    # While it is being created, DynamoDB answers data-plane calls as if it did not exist.
    for call in (
        lambda: dynamodb.get_item(TableName="restored", Key=key("USER-1")),
        lambda: dynamodb.put_item(TableName="restored", Item=item("USER-2", "v")),
        lambda: dynamodb.scan(TableName="restored"),
        lambda: dynamodb.batch_write_item(RequestItems={"restored": [{"DeleteRequest": {"Key": key("USER-1")}}]}),
    ):
        assert error_code(call) == "ResourceNotFoundException"

    seen = wait_active(dynamodb, "restored")
    assert seen[0] == "CREATING"
    summary = dynamodb.describe_table(TableName="restored")["Table"]["RestoreSummary"]
    assert summary["RestoreInProgress"] is False and summary["SourceTableArn"] == source_arn
    assert dynamodb.get_item(TableName="restored", Key=key("USER-1"))["Item"] == item("USER-1", "v")


def test_restored_table_keeps_keys_indexes_and_encryption_only(dynamodb: Any) -> None:
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    for n, shard in enumerate("aab"):
        dynamodb.put_item(TableName=TABLE, Item=item(f"USER-{n}", f"value-{n}", shard={"S": shard}))
    enable(dynamodb)
    items = restored(dynamodb, "restored", UseLatestRestorableTime=True)
    assert sorted(items) == ["USER-0", "USER-1", "USER-2"]

    source = dynamodb.describe_table(TableName=TABLE)["Table"]
    table = dynamodb.describe_table(TableName="restored")["Table"]
    for setting in ("KeySchema", "AttributeDefinitions", "BillingModeSummary"):
        assert table[setting] == source[setting], setting
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-shard"]
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by-value"]
    assert table["SSEDescription"] == source["SSEDescription"] == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": KMS_KEY}
    assert "StreamSpecification" not in table and "Replicas" not in table and "GlobalTableVersion" not in table
    assert dynamodb.describe_time_to_live(TableName="restored")["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    assert recovery(dynamodb, "restored") == {"PointInTimeRecoveryStatus": "DISABLED"}

    by_shard = dynamodb.query(
        TableName="restored", IndexName="by-shard", KeyConditionExpression="shard = :s", ExpressionAttributeValues={":s": {"S": "a"}}
    )["Items"]
    assert sorted(entry["id"]["S"] for entry in by_shard) == ["USER-0", "USER-1"]
    by_value = dynamodb.query(
        TableName="restored", IndexName="by-value", KeyConditionExpression="id = :i AND #v = :v",
        ExpressionAttributeNames={"#v": "value"}, ExpressionAttributeValues={":i": {"S": "USER-2"}, ":v": {"S": "value-2"}},
    )["Items"]  # fmt: skip
    assert by_value == [items["USER-2"]]


def test_a_replica_restores_from_its_own_history_in_the_backup_region(aws: Emulator, dynamodb: Any) -> None:
    aws.set_config(replica_delay=0.2)
    backup = aws.client("dynamodb", BACKUP, retries=NO_RETRIES)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "copied with the replica"))
    dynamodb.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": BACKUP}}])
    wait_active(backup, TABLE)
    enable(backup)  # in the backup Region only: recovery is a setting of each replica
    assert recovery(dynamodb) == {"PointInTimeRecoveryStatus": "DISABLED"}

    dynamodb.put_item(TableName=TABLE, Item=item("USER-2", "first"))  # written in the primary, copied
    backup.delete_item(TableName=TABLE, Key=key("USER-1"))  # written in the backup Region
    between = now()
    dynamodb.put_item(TableName=TABLE, Item=item("USER-2", "second"))

    items = restored(backup, "restored", RestoreDateTime=between)
    assert {name: entry["value"]["S"] for name, entry in items.items()} == {"USER-2": "first"}
    table = backup.describe_table(TableName="restored")["Table"]
    assert table["RestoreSummary"]["SourceTableArn"] == backup.describe_table(TableName=TABLE)["Table"]["TableArn"]
    assert "Replicas" not in table and "restored" not in dynamodb.list_tables()["TableNames"]
    code = error_code(lambda: dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="other", UseLatestRestorableTime=True))
    assert code == "PointInTimeRecoveryUnavailableException"

    # A replica removed and added again is a new table: its recovery starts DISABLED.
    dynamodb.update_table(TableName=TABLE, ReplicaUpdates=[{"Delete": {"RegionName": BACKUP}}])
    while TABLE in backup.list_tables()["TableNames"]:
        time.sleep(0.05)
    dynamodb.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": BACKUP}}])
    wait_active(backup, TABLE)
    assert recovery(backup) == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_a_deleted_tables_namesake_starts_without_recovery(dynamodb: Any) -> None:
    enable(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item=item("USER-1", "v"))
    dynamodb.delete_table(TableName=TABLE)
    create_table(dynamodb)
    assert recovery(dynamodb) == {"PointInTimeRecoveryStatus": "DISABLED"}
    code = error_code(lambda: dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="restored", UseLatestRestorableTime=True))
    assert code == "PointInTimeRecoveryUnavailableException"


def test_errors_are_dynamodbs(dynamodb: Any) -> None:
    def restore(**request: Any) -> Callable[[], Any]:
        return lambda: dynamodb.restore_table_to_point_in_time(**{"SourceTableName": TABLE, "TargetTableName": "restored", **request})

    def error(call: Callable[[], Any]) -> tuple[str, str]:
        with pytest.raises(ClientError) as raised:
            call()
        return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]

    code, message = error(restore(UseLatestRestorableTime=True))
    assert (code, message) == ("PointInTimeRecoveryUnavailableException", "Point in time recovery has not yet been enabled for this source table.")
    enable(dynamodb)
    code, message = error(restore(SourceTableName="missing", UseLatestRestorableTime=True))
    assert code == "TableNotFoundException" and message.startswith("A source table with the name missing does not currently exist")
    assert error(restore(UseLatestRestorableTime=True, TargetTableName=TABLE)) == ("TableAlreadyExistsException", f"Table already exists: {TABLE}")
    for moment in (now() - datetime.timedelta(minutes=1), now() + datetime.timedelta(minutes=1)):  # before the window, in the future
        code, message = error(restore(RestoreDateTime=moment))
        assert code == "InvalidRestoreTimeException" and "between EarliestRestorableDateTime and LatestRestorableDateTime" in message
    assert error(restore(RestoreDateTime=now(), UseLatestRestorableTime=True))[0] == "ValidationException"
    assert error(restore())[0] == "ValidationException"
    assert error(restore(UseLatestRestorableTime=False))[0] == "ValidationException"
    assert error(lambda: dynamodb.describe_continuous_backups(TableName="missing"))[0] == "TableNotFoundException"
    code = error(lambda: enable(dynamodb, "missing"))[0]
    assert code == "TableNotFoundException"
    assert dynamodb.list_tables()["TableNames"] == [TABLE]  # no refused restore left a table


def test_request_log_names_the_tables(aws: Emulator, dynamodb: Any) -> None:
    mark = aws.mark()
    enable(dynamodb)
    recovery(dynamodb)
    dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="restored", UseLatestRestorableTime=True)
    error_code(lambda: dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName="restored", UseLatestRestorableTime=True))
    records = [(r["operation"], r["table"], r["outcome"], r["wcu"], r["rcu"]) for r in aws.requests(since=mark)]
    assert records == [
        ("UpdateContinuousBackups", TABLE, "ok", 0, 0),
        ("DescribeContinuousBackups", TABLE, "ok", 0, 0),
        ("RestoreTableToPointInTime", f"{TABLE},restored", "ok", 0, 0),
        ("RestoreTableToPointInTime", f"{TABLE},restored", "error:TableAlreadyExistsException", 0, 0),
    ]


def test_lag_from_the_command_line() -> None:
    with Emulator.start(pitr_lag=7) as emulator:
        assert emulator.health()["settings"]["pitr_lag"] == 7.0
        assert emulator.set_config(pitr_lag=0.5)["pitr_lag"] == 0.5
