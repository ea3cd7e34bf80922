"""Which tables and keys a DynamoDB request reads or writes, from its JSON body."""

from __future__ import annotations

import dataclasses
from typing import Any

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
TRANSACTIONAL = frozenset({"TransactWriteItems", "TransactGetItems"})  # AWS charges these double
DATA_PLANE = WRITE_OPERATIONS | {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


@dataclasses.dataclass(frozen=True)
class ItemRef:
    """An item a request names: by its full attributes (PutItem) or by its key."""

    table: str
    attributes: dict[str, Any]  # DynamoDB JSON; may hold more than the key
    consistent: bool = True  # reads only: strongly consistent?
    put: bool = False  # writes only: ``attributes`` is the whole new item


def tables(operation: str, params: dict[str, Any]) -> list[str]:
    if "TableName" in params:
        return [params["TableName"]]
    if operation == "RestoreTableToPointInTime":
        source = params.get("SourceTableName") or str(params.get("SourceTableArn", "")).rpartition("/")[2]
        return [name for name in (source, params.get("TargetTableName")) if name]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return sorted(params.get("RequestItems", {}))
    if operation in TRANSACTIONAL:
        names = {action["TableName"] for entry in params.get("TransactItems", []) for action in entry.values() if "TableName" in action}
        return sorted(names)
    return []


def writes(operation: str, params: dict[str, Any]) -> list[ItemRef]:
    if operation == "PutItem":
        return [ItemRef(params["TableName"], params.get("Item", {}), put=True)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [ItemRef(params["TableName"], params.get("Key", {}))]
    if operation == "BatchWriteItem":
        refs = []
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    refs.append(ItemRef(table, request["PutRequest"].get("Item", {}), put=True))
                elif "DeleteRequest" in request:
                    refs.append(ItemRef(table, request["DeleteRequest"].get("Key", {})))
        return refs
    if operation == "TransactWriteItems":
        refs = []
        for entry in params.get("TransactItems", []):
            if "Put" in entry:
                refs.append(ItemRef(entry["Put"]["TableName"], entry["Put"].get("Item", {}), put=True))
            for kind in ("Update", "Delete"):
                if kind in entry:
                    refs.append(ItemRef(entry[kind]["TableName"], entry[kind].get("Key", {})))
        return refs
    return []


def keyed_reads(operation: str, params: dict[str, Any]) -> list[ItemRef]:
    """Reads by key (GetItem, BatchGetItem, TransactGetItems); Query and Scan are metered."""
    if operation == "GetItem":
        return [ItemRef(params["TableName"], params.get("Key", {}), bool(params.get("ConsistentRead")))]
    if operation == "BatchGetItem":
        return [
            ItemRef(table, key, bool(request.get("ConsistentRead")))
            for table, request in params.get("RequestItems", {}).items()
            for key in request.get("Keys", [])
        ]
    if operation == "TransactGetItems":
        return [ItemRef(entry["Get"]["TableName"], entry["Get"].get("Key", {})) for entry in params.get("TransactItems", []) if "Get" in entry]
    return []
