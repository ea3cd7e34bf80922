"""DynamoDB `Scan` pages that cost time proportional to the page, not to the table, in the
order AWS returns them.

For every page moto sorts the whole table, hashes every item into its segment, walks past
the items of earlier pages, then sizes and deep-copies each item it returns. On a backup
table of 10,000 items one 1 MB page took about a second, and a parallel scan of the table
many seconds, where AWS takes tens of milliseconds. Here each table keeps, per segment, its
keys in scan order (built in one walk for all segments, then kept in order as keys are added
and deleted), a page starts by bisection, and items are copied only when a projection would
change them.

Two differences from moto, both towards AWS:
- the order: AWS scans partition by partition, in the order of the partition key's hash, so
  that kinds of items sharing a table come interleaved; moto sorts by key value (in a backup
  table, every membership before the first user). Here: by the MD5 of the partition key (the
  hash moto's segments already use), then by key.
- a page examines at most PAGE_ITEMS items (as well as AWS's 1 MB), because the whole page is
  built under the emulator's state lock, and a 1 MB page of small items would hold it long
  enough to stall every other client, Cognito calls included, and bunch their arrival times.
  A shorter page is within the API's contract: callers follow `LastEvaluatedKey`.
Index scans are left to moto.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from decimal import Decimal
from hashlib import md5
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

# About the items AWS reads in the time it answers one page (tens of milliseconds).
PAGE_ITEMS = 200

_installed = False
_CACHE = "_localaws_scan_order"  # on the Table: {"keys": set of keys, segments -> (sort keys, keys)}


def _plain(value: Any) -> Any:
    """A key value as a plain Python value that sorts the same (moto's DynamoType compares
    slowly, and a partition of many items, like a group's memberships, compares a lot)."""
    return Decimal(value.value) if value.type == "N" else value.value


def _sort_key(hash_key: Any, range_key: Any) -> tuple[Any, ...]:
    """Scan order: the partition key's hash, the partition key, then the sort key."""
    digest = md5(str(hash_key.value).encode("utf8")).digest()
    return (digest, _plain(hash_key)) if range_key is None else (digest, _plain(hash_key), _plain(range_key))


def _every_item(table: Table) -> Iterator[Item]:
    """The table's items in no particular order (moto's `all_items` sorts them, slowly)."""
    for partition in table.items.values():
        if table.range_key_attr:
            yield from partition.values()
        else:
            yield partition  # type: ignore[misc]


def _segment_of(sort_key: tuple[Any, ...], segments: tuple[Any, Any]) -> tuple[Any, Any]:
    """The segment of `segments`' kind an item falls in (moto's rule: first MD5 byte modulo)."""
    total = segments[1]
    return (None, None) if total is None else (sort_key[0][0] % total, total)


def _order(table: Table, segments: tuple[Any, Any]) -> tuple[list[Any], list[tuple[Any, Any]]]:
    cache = table.__dict__.get(_CACHE)
    if cache is None:
        cache = table.__dict__[_CACHE] = {"keys": {(i.hash_key, i.range_key) for i in _every_item(table)}}
    if segments not in cache:
        # Every segment of a parallel scan in one walk of the table: its workers ask at once.
        buckets: dict[tuple[Any, Any], list[tuple[Any, Any]]] = {}
        for i in _every_item(table):
            sort_key = _sort_key(i.hash_key, i.range_key)
            buckets.setdefault(_segment_of(sort_key, segments), []).append((sort_key, (i.hash_key, i.range_key)))
        total = segments[1]
        for segment in [(s, total) for s in range(total)] if total else [(None, None)]:
            pairs = sorted(buckets.get(segment, []), key=lambda pair: pair[0])
            cache[segment] = ([sort_key for sort_key, _ in pairs], [key for _, key in pairs])
    return cache[segments]


def _entries(cache: dict[Any, Any], sort_key: tuple[Any, ...]) -> list[tuple[list[Any], list[Any]]]:
    """The cached segment orders an item with `sort_key` belongs to."""
    return [entry for segments, entry in cache.items()
            if segments != "keys" and _segment_of(sort_key, segments) == segments]


def _added(table: Table, item: Item | None) -> None:
    """A put: a new key goes into the cached orders in its place (no rebuild)."""
    cache = table.__dict__.get(_CACHE)
    if cache is None or item is None or (item.hash_key, item.range_key) in cache["keys"]:
        return
    key = (item.hash_key, item.range_key)
    cache["keys"].add(key)
    sort_key = _sort_key(*key)
    for sort_keys, keys in _entries(cache, sort_key):
        at = bisect_right(sort_keys, sort_key)
        sort_keys.insert(at, sort_key)
        keys.insert(at, key)


def _removed(table: Table, item: Item | None) -> None:
    cache = table.__dict__.get(_CACHE)
    if cache is None or item is None or (item.hash_key, item.range_key) not in cache["keys"]:
        return
    key = (item.hash_key, item.range_key)
    cache["keys"].discard(key)
    sort_key = _sort_key(*key)
    for sort_keys, keys in _entries(cache, sort_key):
        at = bisect_left(sort_keys, sort_key)
        if at < len(sort_keys) and sort_keys[at] == sort_key:
            del sort_keys[at], keys[at]


def _lookup(table: Table, hash_key: Any, range_key: Any) -> Item | None:
    partition = table.items.get(hash_key)
    if partition is None or not table.range_key_attr:
        return partition  # type: ignore[return-value]
    return partition.get(range_key)


def _passes(item: Item, filters: dict[str, Any]) -> bool:
    """The legacy ScanFilter, as moto applies it."""
    for name, (operator, values) in filters.items():
        attribute = item.attrs.get(name)
        if attribute:
            if not attribute.compare(operator, values):
                return False
        elif operator != "NULL":
            return False
    return True


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original_scan, original_put, original_delete = Table.scan, Table.put_item, Table.delete_item

    def scan(self: Table, filters: dict[str, Any], limit: int, exclusive_start_key: dict[str, Any] | None,
             filter_expression: Any = None, index_name: str | None = None, consistent_read: bool = False,
             projection_expression: Any = None, segments: Any = (None, None)) -> Any:
        if index_name:
            return original_scan(self, filters, limit, exclusive_start_key, filter_expression, index_name,
                                 consistent_read, projection_expression, segments)
        sort_keys, keys = _order(self, tuple(segments))
        start = 0
        if exclusive_start_key is not None:
            hash_key = DynamoType(exclusive_start_key[self.hash_key_attr])
            range_key = DynamoType(exclusive_start_key[self.range_key_attr]) if self.range_key_attr else None
            start = bisect_right(sort_keys, _sort_key(hash_key, range_key))
        results: list[Item] = []
        result_size = scanned = 0
        last_evaluated_key = None
        examined: Item | None = None
        for hash_key, range_key in keys[start:]:
            item = _lookup(self, hash_key, range_key)
            if item is None:
                continue
            size = item.size()
            if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], None)
                break
            if scanned == PAGE_ITEMS:
                last_evaluated_key = self._get_last_evaluated_key(examined, None)
                break
            examined = item
            if _passes(item, filters):
                results.append(item)
                result_size += size
            scanned += 1
        if filter_expression is not None:
            results = [item for item in results if filter_expression.expr(item)]
        if projection_expression:
            results = [copy.deepcopy(item).project(projection_expression) for item in results]
        return results, scanned, last_evaluated_key

    def put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _added(self, item)
        return item

    def delete_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = original_delete(self, *args, **kwargs)
        _removed(self, item)
        return item

    scan.moto_scan = original_scan  # type: ignore[attr-defined]  # for tests that compare the two
    Table.scan = scan  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
