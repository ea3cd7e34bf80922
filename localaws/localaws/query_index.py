"""DynamoDB `Query` that costs time proportional to its partition, not to the table.

moto answers every Query, on the table or on a global secondary index, by walking every item
of the table. A backup table holds a pool's users, groups and memberships, and the export
reads it one shard or one group at a time, so that walk would make a 20,000-user export
quadratic. Here the candidates are narrowed first: a table query to its partition, an index
query to the items put with that index key value (an index of our own, kept on every put and
update); moto then filters, sorts and pages them exactly as before.

moto also deep-copies every result before projecting it, most of a query's cost for a
shard's index entries. Backend calls run under the emulator's state lock, and the response
is serialised before the lock is released, so nothing can change the stored items in the
meantime: the copy is skipped.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_installed = False


class _WithoutDeepCopy:
    """Stands in for the `copy` module inside moto's Table.query, which only deep-copies results."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value


def _gsi_hash_attrs(table: Table) -> list[str]:
    return [k["AttributeName"] for index in table.global_indexes for k in index.schema if k["KeyType"] == "HASH"]


def _note(table: Table, item: Any) -> None:
    """Remember `item` under each of its index hash-key values (stale entries are harmless:
    moto re-checks every candidate's key condition)."""
    by_value = table.__dict__.setdefault("_localaws_by_index_key", {})
    for attr in _gsi_hash_attrs(table):
        value = item.attrs.get(attr)
        if value is not None:
            by_value.setdefault((attr, value), {})[(item.hash_key, item.range_key)] = None


def _candidates(table: Table, index_name: str | None, hash_key: Any, hash_conditions: Any) -> list | None:
    if not index_name or all(index.name != index_name for index in table.global_indexes):
        # the table or a local index: both are keyed by the table's partition key
        partition = table.items.get(hash_key) if hash_key is not None else None
        if partition is None:
            return []
        return list(partition.values()) if table.range_key_attr else [partition]
    conditions = list(hash_conditions or [])
    if len(conditions) != 1:
        return None  # not a shape we index: let moto walk the table
    attr, value = conditions[0]
    keys = table.__dict__.get("_localaws_by_index_key", {}).get((attr, value), {})
    found = []
    for hash_value, range_value in keys:
        partition = table.items.get(hash_value)
        item = partition.get(range_value) if table.range_key_attr and partition else partition
        if item is not None:
            found.append(item)
    return _presorted(table, index_name, found)


def _presorted(table: Table, index_name: str, found: list) -> list:
    """`found` in the index's key order, by plain values: moto then sorts a sorted list, one
    comparison an item instead of a dozen, each of which unwraps DynamoTypes."""
    index = next(index for index in table.global_indexes if index.name == index_name)
    order = [name for name in index.schema_key_attrs + [table.hash_key_attr, table.range_key_attr] if name]

    def key(item: Any) -> list:
        return [value.cast_value for value in map(item.attrs.get, order) if value is not None]

    try:
        return sorted(found, key=key)
    except TypeError:  # values of different types under one key name: moto's sort decides
        return found


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    import moto.dynamodb.models.table as table_module

    original_put, original_query = Table.put_item, Table.query
    original_update = DynamoDBBackend.update_item

    def put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _note(self, item)
        return item

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        candidates = _candidates(self, index_name, hash_key, kwargs.get("hash_key_conditions"))
        table_module.copy = _WithoutDeepCopy  # type: ignore[assignment]
        try:
            if candidates is None:
                return original_query(self, hash_key, *args, **kwargs)
            # moto's query walks `self.all_items()`: hand it the candidates only, for this call
            # (backend calls run one at a time under the emulator's state lock).
            self.all_items = lambda: candidates  # type: ignore[method-assign]
            try:
                return original_query(self, hash_key, *args, **kwargs)
            finally:
                del self.all_items
        finally:
            table_module.copy = copy

    def update_item(self: DynamoDBBackend, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        item = original_update(self, table_name, key, *args, **kwargs)
        if item is not None:
            _note(self.get_table(table_name), item)
        return item

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
