"""DynamoDB reads are answered as moto would answer them, only faster."""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from localaws import dynamodb_json

ITEM = {
    "id": {"S": "é1 \"quoted\", comma"}, "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"a", b"b"]},
    "n": {"N": "1.50"}, "ns": {"NS": ["1", "2"]}, "ss": {"SS": ["x", "y"]},
    "m": {"M": {"x": {"NULL": True}, "y": {"BOOL": False}, "z": {"L": [{"S": "🎉"}, {"N": "-3"}]}}},
}



def reads(client: Any) -> None:
    client.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName="t", Item=ITEM)
    client.put_item(TableName="t", Item={"id": {"S": "plain"}})
    client.scan(TableName="t", ReturnConsumedCapacity="TOTAL")
    client.scan(TableName="t", Limit=1, Segment=0, TotalSegments=2)
    client.query(TableName="t", KeyConditionExpression="id = :v", ExpressionAttributeValues={":v": {"S": "plain"}})
    client.get_item(TableName="t", Key={"id": ITEM["id"]}, ReturnConsumedCapacity="TOTAL")
    client.get_item(TableName="t", Key={"id": {"S": "missing"}})
    client.batch_get_item(RequestItems={"t": {"Keys": [{"id": ITEM["id"]}, {"id": {"S": "plain"}}]}})


def test_read_responses_equal_what_the_serializer_writes(monkeypatch):
    # moto in this process: boto3 must not follow the session emulator's AWS_ENDPOINT_URL.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    """The same results, through moto's serializer and through the direct path."""
    seen: list[tuple[str, Any, Any]] = []
    original = DynamoResult.execute_result

    def both(self: DynamoResult, context: Any) -> Any:
        status, headers, body = original(self, context)
        if context.operation_model.name in dynamodb_json.READ_OPERATIONS:
            fast = dynamodb_json.respond(self.result)
            assert fast is not None, context.operation_model.name
            assert fast[0] == status and set(fast[1]) == set(headers)
            seen.append((context.operation_model.name, json.loads(body), json.loads(fast[2])))
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    with mock_aws():
        reads(boto3.client("dynamodb", region_name="us-east-1"))
    assert {name for name, _, _ in seen} == dynamodb_json.READ_OPERATIONS
    for name, slow, fast in seen:
        assert fast == slow, name


def test_items_round_trip_through_the_emulator(aws):
    client = aws.client("dynamodb")
    reads(client)
    assert client.get_item(TableName="t", Key={"id": ITEM["id"]})["Item"] == ITEM
    scanned = client.scan(TableName="t")["Items"]
    assert sorted(scanned, key=lambda i: i["id"]["S"]) == [{"id": {"S": "plain"}}, ITEM]
    assert client.batch_get_item(RequestItems={"t": {"Keys": [{"id": ITEM["id"]}]}})["Responses"]["t"] == [ITEM]


def test_what_json_cannot_hold_goes_the_slow_way():
    assert dynamodb_json.respond({"Items": [object()]}) is None
    assert json.loads(dynamodb_json.respond({"Item": {"b": {"B": b"raw"}}})[2]) == {"Item": {"b": {"B": "cmF3"}}}
