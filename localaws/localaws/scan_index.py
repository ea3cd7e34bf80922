"""DynamoDB `Scan` pages that cost time proportional to the page, not to the table, in the
order AWS returns them.

For every page moto sorts the whole table, hashes every item into its segment, walks past
the items of earlier pages, then sizes and deep-copies each item it returns. On a backup
table of 10,000 items one 1 MB page took about a second, and a parallel scan of the table
many seconds, where AWS takes tens of milliseconds. Here each table keeps, per segment, its
keys in scan order (rebuilt only when a key is added), a page starts by bisection, and
items are copied only when a projection would change them.

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
from bisect import bisect_right
from hashlib import md5
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

# About the items AWS reads in the time it answers one page (tens of milliseconds).
PAGE_ITEMS = 200

_installed = False
_CACHE = "_localaws_scan_order"  # on the Table: {"keys": set of keys, segments -> (sort keys, keys)}


def _sort_key(hash_key: Any, range_key: Any) -> tuple[Any, ...]:
    """Scan order: the partition key's hash, the partition key, then the sort key."""
    digest = md5(str(hash_key.value).encode("utf8")).digest()
    return (digest, hash_key, range_key) if range_key else (digest, hash_key)


def _order(table: Table, segments: tuple[Any, Any]) -> tuple[list[Any], list[tuple[Any, Any]]]:
    cache = table.__dict__.get(_CACHE)
    if cache is None:
        cache = table.__dict__[_CACHE] = {"keys": {(i.hash_key, i.range_key) for i in table.all_items()}}
    if segments not in cache:
        inside = sorted((i for i in table.all_items() if i.is_within_segment(segments)),
                        key=lambda i: _sort_key(i.hash_key, i.range_key))
        cache[segments] = ([_sort_key(i.hash_key, i.range_key) for i in inside],
                           [(i.hash_key, i.range_key) for i in inside])
    return cache[segments]


def _forget_if_new(table: Table, item: Item | None) -> None:
    cache = table.__dict__.get(_CACHE)
    if cache is not None and item is not None and (item.hash_key, item.range_key) not in cache["keys"]:
        del table.__dict__[_CACHE]


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
        _forget_if_new(self, item)
        return item

    def delete_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        # A deleted key is skipped when a page looks it up; dropping the order keeps the cache small.
        self.__dict__.pop(_CACHE, None)
        return original_delete(self, *args, **kwargs)

    scan.moto_scan = original_scan  # type: ignore[attr-defined]  # for tests that compare the two
    Table.scan = scan  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
