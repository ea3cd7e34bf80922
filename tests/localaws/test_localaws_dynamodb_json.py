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
# binary values below the top level: the direct path writes nested values one by one
NESTED = {"id": {"S": "nested"}, "l": {"L": [{"B": b"\x02"}, {"M": {"bs": {"BS": [b"c"]}, "s": {"S": "d"}}}]}}


def reads(client: Any) -> None:
    client.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName="t", Item=ITEM)
    client.put_item(TableName="t", Item={"id": {"S": "plain"}})
    client.put_item(TableName="t", Item=NESTED)
    client.scan(TableName="t", ReturnConsumedCapacity="TOTAL")
    client.scan(TableName="t", Limit=1, Segment=0, TotalSegments=2)
    client.query(TableName="t", KeyConditionExpression="id = :v", ExpressionAttributeValues={":v": {"S": "plain"}})
    client.get_item(TableName="t", Key={"id": ITEM["id"]}, ReturnConsumedCapacity="TOTAL")
    client.get_item(TableName="t", Key={"id": {"S": "missing"}})
    client.batch_get_item(RequestItems={"t": {"Keys": [{"id": ITEM["id"]}, {"id": {"S": "plain"}}]}})


def test_read_responses_equal_what_the_serializer_writes(monkeypatch):
    # moto in this process: boto3 must not follow the session emulator's AWS_ENDPOINT_URL.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    """The same results, through moto's serializer and through the direct path (a Query's or
    Scan's items as moto holds them)."""
    seen: list[tuple[str, Any, Any]] = []
    original = DynamoResult.execute_result

    def both(self: DynamoResult, context: Any) -> Any:
        fast = None
        if context.operation_model.name in dynamodb_json.READ_OPERATIONS:
            fast = dynamodb_json.respond(self.result)
            assert fast is not None, context.operation_model.name
        raw = isinstance(self.result.get("Items"), dynamodb_json.RawItems)
        dynamodb_json.settle(self)
        status, headers, body = original(self, context)
        if fast is not None:
            assert raw == (context.operation_model.name in ("Query", "Scan")), context.operation_model.name
            assert fast[0] == status and set(fast[1]) == set(headers)
            seen.append((context.operation_model.name, json.loads(body), json.loads(fast[2])))
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "__init__", dynamodb_json.lazy_init)
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
    assert sorted(scanned, key=lambda i: i["id"]["S"]) == [NESTED, {"id": {"S": "plain"}}, ITEM]
    nested = client.query(TableName="t", KeyConditionExpression="id = :v", ExpressionAttributeValues={":v": NESTED["id"]})
    assert nested["Items"] == [NESTED]
    assert client.batch_get_item(RequestItems={"t": {"Keys": [{"id": ITEM["id"]}]}})["Responses"]["t"] == [ITEM]


def test_what_json_cannot_hold_goes_the_slow_way():
    assert dynamodb_json.respond({"Items": [object()]}) is None
    assert dynamodb_json.respond({"Items": dynamodb_json.RawItems([{"a": object()}])}) is None
    assert json.loads(dynamodb_json.respond({"Item": {"b": {"B": b"raw"}}})[2]) == {"Item": {"b": {"B": "cmF3"}}}


def _walk(shape: Any, path: str, seen: set[str]) -> list[tuple[str, str]]:
    """(path, type) of every blob and timestamp member reachable from `shape`."""
    if shape.name in seen:
        return []
    seen = seen | {shape.name}
    if shape.type_name in ("blob", "timestamp"):
        return [(path, shape.type_name)]
    if shape.type_name == "structure":
        return [hit for name, member in shape.members.items() for hit in _walk(member, f"{path}.{name}", seen)]
    if shape.type_name == "list":
        return _walk(shape.member, f"{path}[]", seen)
    if shape.type_name == "map":
        return _walk(shape.value, f"{path}{{}}", seen)
    return []


def test_plain_input_operations_carry_no_other_blobs_or_timestamps():
    model = boto3.session.Session().client("dynamodb", region_name="us-east-1").meta.service_model
    for operation in dynamodb_json.PLAIN_INPUT_OPERATIONS:
        hits = _walk(model.operation_model(operation).input_shape, operation, set())
        assert hits, operation  # item values can hold binary
        assert {path.rsplit(".", 1)[-1] for path, _ in hits} <= {"B", "BS[]"}, (operation, hits)
        assert {kind for _, kind in hits} == {"blob"}, operation


def test_plain_request_parameters_equal_motos_parse():
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.responses import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    plain_item = {k: v for k, v in ITEM.items() if k not in ("b", "bs")}
    bodies = {
        "BatchWriteItem": {"RequestItems": {"t": [{"PutRequest": {"Item": plain_item}},
                                                  {"DeleteRequest": {"Key": {"id": {"S": "k"}}}}]},
                           "ReturnConsumedCapacity": "TOTAL"},
        "Query": {"TableName": "t", "IndexName": "i", "KeyConditionExpression": "#a = :v", "Limit": 5,
                  "ExpressionAttributeNames": {"#a": "x"}, "ExpressionAttributeValues": {":v": {"S": "1"}},
                  "ExclusiveStartKey": {"id": {"S": "z"}}, "ProjectionExpression": "id", "ConsistentRead": False},
        "UpdateItem": {"TableName": "t", "Key": {"id": {"S": "k"}}, "UpdateExpression": "SET #n = #n + :one",
                       "ConditionExpression": "attribute_exists(id)", "ExpressionAttributeNames": {"#n": "n"},
                       "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "ALL_NEW"},
    }
    model = get_service_model("dynamodb")
    for operation, params in bodies.items():
        body = json.dumps(params)
        parser = PROTOCOL_PARSERS["json"](model.operation_model(operation), map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE)
        parsed = parser.parse({"method": "POST", "values": {}, "headers": {"Content-Type": dynamodb_json.CONTENT_TYPE},
                               "body": body.encode(), "url_path": "/", "url_params": {}})
        assert dynamodb_json.plain_params(operation, body) == parsed == params, operation
    # binary values (base64 on the wire, bytes once parsed) and other operations go through moto
    assert dynamodb_json.plain_params("PutItem", json.dumps({"TableName": "t", "Item": {"b": {"B": "AP8="}}})) is None
    assert dynamodb_json.plain_params("CreateTable", json.dumps({"TableName": "t"})) is None
    assert dynamodb_json.plain_params("PutItem", "[1]") is None
