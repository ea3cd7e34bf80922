"""DynamoDB capacity units, sized the way AWS bills on-demand tables.

Writes: 1 WCU per started KB of the item (the larger of before and after), plus 1 per
global secondary index the item is (or was) projected into. Reads: item sizes summed
per 4 KB (GetItem and BatchGetItem round each item; Query and Scan round their total),
halved when eventually consistent. Transactions cost double.

Query and Scan sizes are what the table evaluated before FilterExpression and
ProjectionExpression, as AWS charges; a per-thread meter collects them from moto's
Table.query / Table.scan, which we wrap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import threading
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Footprint:
    """What a write costs depends on: the item's size and the GSIs it appears in."""

    size: int
    indexes: frozenset[str]


NOTHING = Footprint(0, frozenset())


def footprint(table: Table, item: Item | None) -> Footprint:
    if item is None:
        return NOTHING
    projected = frozenset(
        index.name for index in table.global_indexes if all(name in item.attrs for name in index.schema_key_attrs)
    )
    return Footprint(item.size(), projected)


def write_units(before: Footprint, after: Footprint) -> int:
    size = max(before.size, after.size)
    return max(1, math.ceil(size / WRITE_UNIT_BYTES)) + len(before.indexes | after.indexes)


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def find_item(table: Table, attributes: dict[str, Any]) -> Item | None:
    """The stored item with the key found in ``attributes`` (a key or a whole item)."""
    if table.hash_key_attr not in attributes:
        return None
    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = None
    if table.range_key_attr:
        if table.range_key_attr not in attributes:
            return None
        range_key = DynamoType(attributes[table.range_key_attr])
    return table.get_item(hash_key, range_key)


class _Meter(threading.local):
    active: list[float] | None = None


_meter = _Meter()


@contextlib.contextmanager
def metering() -> Iterator[list[float]]:
    """Collect the read units of Query / Scan calls made by this thread inside the block."""
    units: list[float] = []
    _meter.active = units
    try:
        yield units
    finally:
        _meter.active = None


def _metered(original: Any, filter_arg: str, projection_arg: str) -> Any:
    """Wrap Table.query / Table.scan: evaluate without filter and projection, charge the
    evaluated items, then apply filter and projection exactly as moto does last."""
    signature = inspect.signature(original)

    def wrapper(*args: Any, **kwargs: Any) -> tuple[list[Item], int, Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        filter_expression = bound.arguments[filter_arg]
        projection = bound.arguments[projection_arg]
        bound.arguments[filter_arg] = None
        bound.arguments[projection_arg] = None
        items, scanned, last_key = original(*bound.args, **bound.kwargs)
        if _meter.active is not None:
            _meter.active.append(read_units(sum(item.size() for item in items), bool(bound.arguments["consistent_read"])))
        if filter_expression is not None:
            items = [item for item in items if filter_expression.expr(item)]
        if projection:
            items = [item.project(projection) for item in items]
        return items, scanned, last_key

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Patch moto's Table.query and Table.scan (idempotent)."""
    if hasattr(Table.query, "__wrapped__"):
        return
    Table.query = _metered(Table.query, "filter_expression", "projection_expressions")
    Table.scan = _metered(Table.scan, "filter_expression", "projection_expression")
