"""Stream records measured when read carry what moto's own records carry."""

from __future__ import annotations

import datetime

import moto.dynamodb.models.table as table_module
import pytest
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord

from localaws import stream_records


class _Table:
    hash_key_attr, range_key_attr = "id", "type"


def _item(name: str) -> Item:
    attrs = {"id": {"S": "USER-1"}, "type": {"S": "USER"}, "name": {"S": name},
             "attributes": {"L": [{"M": {"Name": {"S": "email"}, "Value": {"S": "x@example.com"}}}]}}
    return Item(DynamoType(attrs["id"]), DynamoType(attrs["type"]), attrs)


def _without_identity(record: dict) -> dict:
    body = {k: v for k, v in record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
    return {**{k: v for k, v in record.items() if k != "eventID"}, "dynamodb": body}


@pytest.mark.parametrize("old, new", [(None, "a"), ("a", "bb"), ("a", None)])
def test_records_equal_moto(old, new, monkeypatch):
    stream_records.install()
    # The creation time is part of what is measured: the same instant for both records.
    instant = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901)
    monkeypatch.setattr(table_module, "utcnow", lambda: instant)
    args = (_Table(), "NEW_AND_OLD_IMAGES", "MODIFY", old and _item(old), new and _item(new), 7)
    ours = StreamRecord(*args).to_json()
    theirs = StreamRecord.__new__(StreamRecord)
    stream_records.moto_originals()["init"](theirs, *args)
    assert ours["dynamodb"]["SizeBytes"] > 1
    assert _without_identity(ours) == _without_identity(theirs.record)


def test_records_through_the_streams_api(aws, dynamodb):
    dynamodb.create_table(
        TableName="s", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.put_item(TableName="s", Item={"id": {"S": "k"}, "v": {"S": "one"}})
    # each update changes the stored item in place: the records before it keep their images
    for value in ("two", "three"):
        dynamodb.update_item(TableName="s", Key={"id": {"S": "k"}}, UpdateExpression="SET v = :v",
                             ExpressionAttributeValues={":v": {"S": value}})
    dynamodb.delete_item(TableName="s", Key={"id": {"S": "k"}})
    streams = aws.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName="s")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY", "REMOVE"]
    # images as they were when written, not as the item is now
    images = [(r["dynamodb"].get("OldImage", {}).get("v"), r["dynamodb"].get("NewImage", {}).get("v")) for r in records]
    assert images == [(None, {"S": "one"}), ({"S": "one"}, {"S": "two"}), ({"S": "two"}, {"S": "three"}), ({"S": "three"}, None)]
    stamps = [r["dynamodb"]["ApproximateCreationDateTime"] for r in records]
    assert stamps == sorted(stamps)
    assert all(r["dynamodb"]["SizeBytes"] > 1 for r in records)
