"""The export's busiest calls as plain JSON, both ways: no walk of botocore's model.

botocore turns every answer into Python, and every request into JSON, by walking its model
shape by shape, value by value. For the calls an export makes by the thousand that walk costs
more than everything else it does per user (profiled):
- answers: pages of users (`ListUsers`, `ListUsersInGroup`) and of digests (DynamoDB `Query`)
  are used as the JSON they arrive in, which `json.loads` already is: the same structure but
  for timestamps, which stay epoch seconds (nothing reads them as datetimes), and binary values,
  which stay base64 text (the digests hold none);
- requests: `BatchWriteItem` of items already in DynamoDB's JSON (`items.to_dynamodb`) is
  dumped as it is: 21 instead of 81 microseconds an item.

Both ways through msgspec where it is installed (Airflow 3's Task SDK requires it), else through
the standard library's json: the first export's task processes spent about 40% of each
`BatchWriteItem` request in `json.dumps` (profiled).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.parsers import JSONParser, ResponseParserFactory

try:
    from msgspec import DecodeError
    from msgspec.json import decode as loads
    from msgspec.json import encode as dumps
except ImportError:  # Airflow 2.x
    DecodeError = ValueError  # type: ignore[misc,assignment]
    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


class RawJSONParser(JSONParser):
    def __init__(self, raw_shapes: frozenset[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw_shapes = raw_shapes

    def _handle_json_body(self, raw_body: bytes, shape: Any) -> dict[str, Any]:
        if shape is not None and shape.name in self.raw_shapes and raw_body:
            try:
                return loads(raw_body)
            except DecodeError:
                return self._parse_body_as_json(raw_body)  # botocore's answer to a body that is not JSON
        return super()._handle_json_body(raw_body, shape)


class RawJSONParserFactory(ResponseParserFactory):
    """botocore's parser factory, whose JSON parser leaves the answers of `raw_shapes` as JSON."""

    def __init__(self, raw_shapes: frozenset[str]) -> None:
        super().__init__()
        self.raw_shapes = raw_shapes

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return RawJSONParser(self.raw_shapes, **self._defaults)
        return super().create_parser(protocol_name)


def keep_raw(session: Any, raw_shapes: frozenset[str], **defaults: Any) -> None:
    """Make the clients a boto3 `session` creates from now on parse `raw_shapes` as plain JSON."""
    factory = RawJSONParserFactory(raw_shapes)
    factory.set_parser_defaults(**defaults)
    session._session.register_component("response_parser_factory", factory)


class PlainJSONRequests:
    """A client's serializer that sends the parameters of `operations` as they are, as JSON.

    For parameters that are already what the service's JSON protocol carries (DynamoDB JSON from
    the codec): the envelope (target header, content type, URL) still comes from botocore.
    """

    def __init__(self, serializer: Any, operations: frozenset[str]) -> None:
        self._serializer = serializer
        self.operations = operations

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in self.operations:
            return self._serializer.serialize_to_request(parameters, operation_model)
        request = self._serializer.serialize_to_request({}, operation_model)
        request["body"] = dumps(parameters)
        return request


def send_plain(client: Any, operations: frozenset[str]) -> Any:
    """Make `client` send the parameters of `operations` as plain JSON (see `PlainJSONRequests`)."""
    client._serializer = PlainJSONRequests(client._serializer, operations)
    return client
