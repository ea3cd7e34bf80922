"""What we add around each DynamoDB call that moto answers: replica updates, capacity
accounting, the keys written (for the request log), replication of writes and their
point-in-time history; and the point-in-time recovery calls, which we answer ourselves."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend

from localaws import backends, capacity
from localaws.ddb_requests import TRANSACTIONAL, WRITE_OPERATIONS, ItemRef, keyed_reads, tables, writes
from localaws.dynamodb_json import may_hold_binary
from localaws.global_tables import GLOBAL_TABLES, ReplicaError
from localaws.point_in_time import OPERATIONS as POINT_IN_TIME_OPERATIONS
from localaws.point_in_time import POINT_IN_TIME, DynamoError
from localaws.protocol import AwsCall, Reply, error_reply, json_reply

# Runs moto on the call, optionally with a replacement request body.
RunMoto = Callable[[bytes | None], Reply]


def log_fields(call: AwsCall) -> dict[str, Any]:
    """The request-log fields of a DynamoDB call that consumed nothing (yet)."""
    fields: dict[str, Any] = {"table": ",".join(tables(call.operation, call.params)) or None, "wcu": 0, "rcu": 0}
    if call.operation in WRITE_OPERATIONS:
        fields["writes"] = []
    return fields


def handle(call: AwsCall, run_moto: RunMoto) -> tuple[Reply, dict[str, Any]]:
    """Answer a DynamoDB call (under the state lock); returns the reply and log fields."""
    params = call.params
    backend = backends.dynamodb(call.account, call.region)
    fields = log_fields(call)
    is_write = call.operation in WRITE_OPERATIONS

    if call.operation in POINT_IN_TIME_OPERATIONS:
        try:
            return json_reply(call, POINT_IN_TIME.answer(call.account, call.region, call.operation, params)), fields
        except DynamoError as error:
            return error_reply(call, error.code, error.message, 400), fields
    if POINT_IN_TIME.creating(backend, call.operation, params):
        return error_reply(call, "ResourceNotFoundException", "Requested resource not found", 400), fields

    body = None
    if call.operation == "UpdateTable" and params.get("ReplicaUpdates"):
        try:
            GLOBAL_TABLES.update(call.account, call.region, params["TableName"], params["ReplicaUpdates"])
        except ReplicaError as error:
            return error_reply(call, "ValidationException", str(error), 400), fields
        except ResourceNotFoundException:
            pass  # moto answers UpdateTable on a missing table with the right error
        # moto ignores ReplicaUpdates; without them UpdateTable still returns the description.
        body = json.dumps({key: value for key, value in params.items() if key != "ReplicaUpdates"}).encode()

    refs = writes(call.operation, params) if is_write else []
    before = [_footprint(backend, ref) for ref in refs]
    with capacity.metering() as query_units:
        reply = run_moto(body)
    if not reply.ok:
        return reply, fields

    factor = 2 if call.operation in TRANSACTIONAL else 1
    if is_write:
        after = [_footprint(backend, ref) for ref in refs]
        fields["wcu"] = factor * sum(capacity.write_units(old, new) for old, new in zip(before, after))
        fields["writes"] = [key for key in (_key_values(backend, ref) for ref in refs) if key]
        GLOBAL_TABLES.replicate(call.account, call.region, refs)
        POINT_IN_TIME.record(call.account, call.region, refs, plain=not may_hold_binary(call.body))
    reads = [capacity.read_units(_size(backend, ref), ref.consistent) for ref in keyed_reads(call.operation, params)]
    fields["rcu"] = factor * (sum(reads) + sum(query_units))
    if call.operation == "DeleteTable":
        GLOBAL_TABLES.forget(call.account, call.region, params["TableName"])
        POINT_IN_TIME.forget(call.account, call.region, params["TableName"])  # its memory, now
    return reply, fields


def _footprint(backend: DynamoDBBackend, ref: ItemRef) -> capacity.Footprint:
    table = backend.tables.get(ref.table)
    if table is None:
        return capacity.NOTHING
    return capacity.footprint(table, capacity.find_item(table, ref.attributes))


def _size(backend: DynamoDBBackend, ref: ItemRef) -> int:
    table = backend.tables.get(ref.table)
    item = capacity.find_item(table, ref.attributes) if table is not None else None
    return item.size() if item is not None else 0


def _key_values(backend: DynamoDBBackend, ref: ItemRef) -> list[Any]:
    """The plain key values of a written item, e.g. ["USER-<sub>", "USER"] for (id, type)."""
    table = backend.tables.get(ref.table)
    if table is None:
        return []
    names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
    return [next(iter(ref.attributes[name].values()), None) for name in names if name in ref.attributes]
