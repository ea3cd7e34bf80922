"""DynamoDB requests and read responses as plain JSON, not through moto's generic parser and
serializer.

moto serializes a response by walking the operation's output shape member by member; for an
item's attribute values (a shape of ten optional members each) that costs milliseconds per
item: one 1 MB Scan page of a backup table took seconds, where AWS answers in tens of
milliseconds. The items moto returns are already DynamoDB JSON, so for the read operations
below the result is dumped as it is. Anything else JSON cannot hold goes the slow way.

A Query's or Scan's items are not even converted to plain dictionaries first (moto's
`dynamo_to_dict`, then `_compact`: a fifth of what a digest Query cost the emulator): the
encoder writes moto's attribute values as it meets them, and the conversion happens only when
the response goes through moto's serializer after all.

Requests the same way: moto parses a request body member by member against the operation's
input shape, about a fifth of what a BatchWriteItem cost the emulator. For the data-plane
operations below, that parse gives what `json.loads` gives except for binary values (base64
to bytes), so a body without any is loaded as it is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler, DynamoResult

# Outputs of these hold only DynamoDB JSON, counts and ConsumedCapacity: nothing the serializer
# would convert but binary values.
READ_OPERATIONS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem"})
CONTENT_TYPE = "application/x-amz-json-1.0"
# Inputs of these hold DynamoDB JSON, expressions, names, numbers and flags: nothing moto's
# parser would convert but binary values (no timestamps, no other blobs).
PLAIN_INPUT_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
})  # fmt: skip

_installed = False


class RawItems(list):  # type: ignore[type-arg]
    """A Query's or Scan's items as moto holds them: attribute values are DynamoType objects."""


def lazy_init(self: DynamoResult, result: object) -> None:
    """DynamoResult's constructor, leaving the items of a Query or Scan as moto holds them
    (the items are the stored ones: encoded before the state lock is let go)."""
    items = result.get("Items") if type(result) is dict else None
    if not isinstance(items, list):
        ActionResult.__init__(self, dynamo_to_dict(result))
        return
    rest = dynamo_to_dict({key: value for key, value in result.items() if key != "Items"})
    rest["Items"] = RawItems(items)
    ActionResult.__init__(self, rest)


def settle(result: ActionResult) -> None:
    """Convert the items `lazy_init` left as they were, for moto's serializer."""
    body = result.result
    if isinstance(body, dict) and isinstance(body.get("Items"), RawItems):
        body["Items"] = dynamo_to_dict(list(body["Items"]))


def _attribute_value(value: Any) -> Any:
    """An attribute value of a raw item as DynamoDB JSON, for the encoder; nested values come
    back here one by one."""
    if not isinstance(value, DynamoType):
        raise TypeError(f"{type(value).__name__} is not JSON")
    if value.type in ("B", "BS"):
        return _compact(dynamo_to_dict(value))
    return {value.type: value.value}


def _compact(value: Any) -> Any:
    """What moto's serializer does to a result beyond encoding: drop members that are None,
    write binary values (the only blobs in these outputs) in base64."""
    if isinstance(value, RawItems):
        return value  # the encoder converts these values (none are None)
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def respond(result: Any) -> tuple[int, dict[str, str], str] | None:
    """The response for a read's result, or None when plain JSON cannot hold it."""
    try:
        body = json.dumps(_compact(result), separators=(",", ":"), default=_attribute_value)
    except (TypeError, ValueError):
        return None
    return 200, {"Content-Type": CONTENT_TYPE}, body  # moto adds the request id and date


def plain_params(operation: str, body: str | bytes) -> dict[str, Any] | None:
    """The request's parameters, or None when moto's parser must read it (binary values,
    other operations, a body that is not a JSON object)."""
    if operation not in PLAIN_INPUT_OPERATIONS:
        return None
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if may_hold_binary(text):
        return None
    try:
        params = json.loads(text)
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def may_hold_binary(body: str | bytes) -> bool:
    """Whether a request body may carry binary values (also when only a name or a string
    looks like one): where `json.loads` and moto's parser disagree."""
    if isinstance(body, bytes):
        return b'"B"' in body or b'"BS"' in body
    return '"B"' in body or '"BS"' in body


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        fast = respond(self.result) if context.operation_model.name in READ_OPERATIONS else None
        if fast is not None:
            return fast
        settle(self)
        return original(self, context)

    DynamoResult.__init__ = lazy_init  # type: ignore[method-assign]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    original_parse = DynamoHandler.parse_parameters

    def parse_parameters(self: DynamoHandler, request: Any) -> None:
        params = plain_params(self._get_action(), self.body)
        if params is None:
            original_parse(self, request)
        else:
            self.params = params

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
