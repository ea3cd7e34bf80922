"""DynamoDB read responses written straight as JSON, not through moto's generic serializer.

moto serializes a response by walking the operation's output shape member by member; for an
item's attribute values (a shape of ten optional members each) that costs milliseconds per
item: one 1 MB Scan page of a backup table took seconds, where AWS answers in tens of
milliseconds. The items moto returns are already DynamoDB JSON, so for the read operations
below the result is dumped as it is. Anything else JSON cannot hold goes the slow way.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.dynamodb.responses import DynamoResult

# Outputs of these hold only DynamoDB JSON, counts and ConsumedCapacity: nothing the serializer
# would convert but binary values.
READ_OPERATIONS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem"})
CONTENT_TYPE = "application/x-amz-json-1.0"

_installed = False


def _compact(value: Any) -> Any:
    """What moto's serializer does to a result beyond encoding: drop members that are None,
    write binary values (the only blobs in these outputs) in base64."""
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
        body = json.dumps(_compact(result), separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return 200, {"Content-Type": CONTENT_TYPE}, body  # moto adds the request id and date


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        fast = respond(self.result) if context.operation_model.name in READ_OPERATIONS else None
        return fast if fast is not None else original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
