"""DynamoDB global tables, version 2019.11.21, which moto lacks.

``UpdateTable`` with ``ReplicaUpdates`` creates (or deletes) a replica table in another
Region: same keys, indexes, stream and encryption, filled with the current items.
``DescribeTable`` in any replica Region shows ``GlobalTableVersion`` and the other
Regions under ``Replicas``; a new replica is CREATING (and the table UPDATING) for a
short while before it is ACTIVE, so waiters have something to wait for. Writes in any
Region are copied to the others synchronously, by key, after they succeed.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from localaws import backends, table_description
from localaws.capacity import find_item
from localaws.ddb_requests import ItemRef

VERSION = "2019.11.21"
_STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


class ReplicaError(Exception):
    """A refused ReplicaUpdates request (AWS answers ValidationException)."""


@dataclasses.dataclass
class _Replica:
    state: str  # CREATING | ACTIVE | DELETING
    until: float = 0.0  # monotonic time a CREATING replica becomes ACTIVE

    def status(self) -> str:
        if self.state == "CREATING" and time.monotonic() >= self.until:
            self.state = "ACTIVE"
        return self.state


class GlobalTables:
    """Replica groups by (account, table name): Region -> replica. Use under STATE_LOCK."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], dict[str, _Replica]] = {}
        self.delay = 1.0  # seconds a replica stays CREATING or DELETING

    def update(self, account: str, region: str, table_name: str, updates: list[dict[str, Any]]) -> None:
        source = backends.dynamodb(account, region).get_table(table_name)
        for update in updates:
            if "Create" in update:
                self._create(account, region, source, update["Create"]["RegionName"])
            elif "Delete" in update:
                self._delete(account, region, table_name, update["Delete"]["RegionName"])
            else:
                raise ReplicaError(f"Unsupported replica update: {sorted(update)}")

    def _create(self, account: str, region: str, source: Table, target: str) -> None:
        group = self._groups.get((account, source.name), {region: _Replica("ACTIVE")})
        if target == region:
            raise ReplicaError(f"Cannot add a replica of table {source.name} in its own Region {region}.")
        if target in group or source.name in backends.dynamodb(account, target).tables:
            raise ReplicaError(
                f"Failed to create a the new replica of table with name: '{source.name}' because one or more replicas already existed as tables."
            )
        stream = source.stream_specification or {}
        if stream.get("StreamEnabled") and stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
            raise ReplicaError("Global tables need a stream with StreamViewType NEW_AND_OLD_IMAGES.")
        if not stream.get("StreamEnabled"):
            source.set_stream_specification(dict(_STREAM))
        replica = backends.dynamodb(account, target).create_table(source.name, **table_params(source))
        for item in source.all_items():
            replica.put_item(copy.deepcopy(item.to_json()["Attributes"]))
        group[target] = _Replica("CREATING", time.monotonic() + self.delay)
        self._groups[(account, source.name)] = group

    def _delete(self, account: str, region: str, table_name: str, target: str) -> None:
        group = self._groups.get((account, table_name), {})
        if target not in group or target == region:
            raise ReplicaError(f"Replica of table {table_name} in Region {target} cannot be deleted: no such replica.")
        group[target] = _Replica("DELETING")
        timer = threading.Timer(self.delay, self._finish_delete, args=(account, table_name, target, group))
        timer.daemon = True
        timer.start()

    def _finish_delete(self, account: str, table_name: str, target: str, group: dict[str, _Replica]) -> None:
        with backends.STATE_LOCK:
            if self._groups.get((account, table_name)) is not group:
                return  # reset (or recreated) meanwhile
            backends.dynamodb(account, target).tables.pop(table_name, None)
            self.forget(account, target, table_name)

    def forget(self, account: str, region: str, table_name: str) -> None:
        """A replica's table is gone (DeleteTable or replica removal)."""
        group = self._groups.get((account, table_name))
        if group is None:
            return
        group.pop(region, None)
        if len(group) < 2:
            del self._groups[(account, table_name)]

    def replicate(self, account: str, region: str, refs: list[ItemRef]) -> None:
        """Copy the current state of written items from ``region`` to the other replicas."""
        for ref in refs:
            others = self.copied_to(account, region, ref.table)
            if not others:
                continue
            source = backends.dynamodb(account, region).tables[ref.table]
            item = find_item(source, ref.attributes)
            for other in others:
                replica = backends.dynamodb(account, other).tables[ref.table]
                if item is None:
                    replica.delete_item(*_key_of(source, ref.attributes))
                else:
                    replica.put_item(item.to_json()["Attributes"])  # fresh containers at every level: no copy needed

    def copied_to(self, account: str, region: str, table_name: str) -> list[str]:
        """The other Regions that ``replicate`` copies this table's writes to."""
        group = self._groups.get((account, table_name))
        if not group or region not in group:
            return []
        return [other for other in group if other != region and table_name in backends.dynamodb(account, other).tables]

    def describe(self, table: Table, description: dict[str, Any]) -> None:
        group = self._groups.get((table.account_id, table.name))
        if not group or table.region_name not in group:
            return
        statuses = {region: replica.status() for region, replica in group.items()}
        description["GlobalTableVersion"] = VERSION
        description["Replicas"] = [
            {"RegionName": region, "ReplicaStatus": status} for region, status in sorted(statuses.items()) if region != table.region_name
        ]
        own = statuses[table.region_name]
        if own != "ACTIVE":
            description["TableStatus"] = own
        elif any(status != "ACTIVE" for status in statuses.values()):
            description["TableStatus"] = "UPDATING"

    def reset(self) -> None:
        self._groups.clear()


GLOBAL_TABLES = GlobalTables()


def _key_of(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return DynamoType(attributes[table.hash_key_attr]), range_key


def table_params(source: Table) -> dict[str, Any]:
    """create_table arguments for a replica of ``source`` (the Region's own KMS key)."""
    provisioned = source.billing_mode != "PAY_PER_REQUEST"

    def throughput(settings: dict[str, Any]) -> dict[str, Any]:
        return {"ReadCapacityUnits": settings["ReadCapacityUnits"], "WriteCapacityUnits": settings["WriteCapacityUnits"]}

    global_indexes = []
    for index in source.global_indexes:
        spec = {"IndexName": index.name, "KeySchema": index.schema, "Projection": index.projection}
        if provisioned:
            spec["ProvisionedThroughput"] = throughput(index.throughput)
        global_indexes.append(spec)
    encrypted = bool(source.sse_specification and source.sse_specification.get("Enabled"))
    return {
        "schema": copy.deepcopy(source.schema),
        "throughput": throughput(source.throughput) if provisioned else None,
        "attr": copy.deepcopy(source.attr),
        "global_indexes": copy.deepcopy(global_indexes),
        "indexes": [copy.deepcopy(index.describe()) for index in source.indexes],
        "streams": dict(_STREAM),
        "billing_mode": source.billing_mode,
        "sse_specification": {"Enabled": True, "SSEType": "KMS"} if encrypted else None,
        "tags": [],
        "deletion_protection_enabled": False,
        "warm_throughput": None,
    }


def install() -> None:
    """Show replicas in moto's table descriptions (idempotent)."""
    table_description.extend(GLOBAL_TABLES.describe)
