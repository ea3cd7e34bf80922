"""The emulator's faster DynamoDB items give what moto's own code gives: the same attributes,
sizes (capacity units depend on them), size limit and projections."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal

import pytest
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from localaws import fast_items

ATTRS = {
    "id": {"S": "USER-1"}, "type": {"S": "USER"}, "n": {"N": "12.50"}, "flag": {"BOOL": True}, "none": {"NULL": True},
    "blob": {"B": "aGVsbG8="}, "ss": {"SS": ["a", "bé"]}, "ns": {"NS": ["1", "2.5"]},
    "attributes": {"L": [{"M": {"Name": {"S": "email"}, "Value": {"S": "x@example.com"}}},
                         {"M": {"Name": {"S": "custom:n"}, "Value": {"N": "3"}}}]},
    "nested": {"M": {"a": {"M": {"b": {"L": [{"S": "deep"}, {"N": "1"}]}}}, "c": {"SS": ["x"]}}},
}


def moto_item(attrs):
    item = Item.__new__(Item)
    fast_items.moto_originals()["init"](item, DynamoType({"S": "USER-1"}), DynamoType({"S": "USER"}), attrs)
    return item


def wire(value):
    """What goes out in a response (bytes as base64, as the emulator's serializer writes them)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):  # sets in a stable order (moto's projection goes through Python sets)
        return {k: sorted(wire(v)) if k in ("SS", "NS", "BS") else wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


@pytest.fixture(autouse=True)
def installed():
    fast_items.install()


def test_items_and_sizes_equal_moto():
    fast = Item(DynamoType({"S": "USER-1"}), DynamoType({"S": "USER"}), ATTRS)
    slow = moto_item(ATTRS)
    assert fast.to_json() == slow.to_json()
    moto_size = fast_items.moto_originals()["size"]
    for name, value in fast.attrs.items():
        assert value.size() == moto_size(slow.attrs[name]) > 0, name
    assert fast.size() == sum(len(k.encode()) + moto_size(v) for k, v in slow.attrs.items())


def test_values_sort_and_compare_as_in_moto():
    """A query's sort compares key values through `cast_value`."""
    moto_cast_value = fast_items.moto_originals()["cast_value"]
    item = Item(DynamoType({"S": "USER-1"}), DynamoType({"S": "USER"}), ATTRS)
    for name, value in item.attrs.items():
        assert value.cast_value == moto_cast_value(value), name
    assert DynamoType({"N": "10"}) > DynamoType({"N": "9"})  # numbers by value, strings by code point
    assert DynamoType({"S": "10"}) < DynamoType({"S": "9"})


def test_items_are_not_kept_once_nothing_refers_to_them():
    """moto's models keep every instance for its dashboard: for items, every query's results."""
    before = len(Item.instances_tracked)
    item = Item(DynamoType({"S": "USER-1"}), DynamoType({"S": "USER"}), ATTRS)
    item.project([["type"]])
    copy.deepcopy(item)
    assert len(Item.instances_tracked) == before


def test_size_limit_as_moto():
    big = {"id": {"S": "k"}, "a": {"S": "x" * 300_000}, "b": {"S": "y" * 110_000}}
    with pytest.raises(ItemSizeTooLarge):
        Item(DynamoType({"S": "k"}), None, big)
    with pytest.raises(ItemSizeTooLarge):
        moto_item(big)
    Item(DynamoType({"S": "k"}), None, {**big, "b": {"S": "y" * 100_000}})  # under the limit: fine


@pytest.mark.parametrize("paths", [
    [["type"], ["n"]], [["attributes"], ["missing"]], [["nested"], ["ss"], ["blob"]],  # top-level: our path
    [["nested", "a", "b"]], [["attributes[1]"]],  # nested paths: moto's
])
def test_projections_equal_moto(paths):
    item = Item(DynamoType({"S": "USER-1"}), DynamoType({"S": "USER"}), ATTRS)
    fast = item.project(paths)
    slow = fast_items.moto_originals()["project"](item, paths)
    assert wire(fast.to_json()) == wire(slow.to_json())
    assert fast.attrs is not item.attrs
    if paths == [["type"], ["n"]]:
        assert fast.to_json()["Attributes"] == {"type": {"S": "USER"}, "n": {"N": "12.50"}}
        assert Decimal(fast.attrs["n"].value) == Decimal("12.5")


def test_remembered_sizes_follow_in_place_updates(aws, dynamodb):
    """Read units depend on the item's size: an UpdateItem that grows an item is seen by the next read."""
    dynamodb.create_table(
        TableName="sized", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    dynamodb.put_item(TableName="sized", Item={"id": {"S": "k"}, "v": {"S": "small"}})

    def read_units() -> float:
        mark = aws.mark()
        dynamodb.query(TableName="sized", KeyConditionExpression="id = :k", ConsistentRead=True,
                       ExpressionAttributeValues={":k": {"S": "k"}})
        dynamodb.get_item(TableName="sized", Key={"id": {"S": "k"}}, ConsistentRead=True)
        return [r["rcu"] for r in aws.requests(since=mark)]

    assert read_units() == [1, 1]
    dynamodb.update_item(TableName="sized", Key={"id": {"S": "k"}}, UpdateExpression="SET v = :v",
                         ExpressionAttributeValues={":v": {"S": "x" * 9000}})
    assert read_units() == [3, 3]
    # a failed update changes nothing, and the remembered size still matches
    with pytest.raises(dynamodb.exceptions.ClientError):
        dynamodb.update_item(TableName="sized", Key={"id": {"S": "k"}}, UpdateExpression="SET w = :w",
                             ExpressionAttributeValues={":w": {"S": "y" * 400_000}})
    assert read_units() == [3, 3]
