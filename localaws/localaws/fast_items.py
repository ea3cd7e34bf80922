"""moto's DynamoDB items, with the same results for less work.

A backup table's writes and index queries cost the emulator tens of milliseconds an item,
all of it under the state lock that every other call waits for:
- `Item.__init__`: moto's attribute dict re-sums the whole item's size at every attribute it
  sets (quadratic in the attributes); here the size is checked once, against the same limit.
- `DynamoType.size`: moto re-wraps every value of a map, a deep copy per level, to size it.
- `Item.project`: moto turns the whole item into plain JSON and back for each projected item;
  a projection of top-level attributes (every index projection, and the export's) takes just
  those attributes, sharing their values: a projected item only lives until its response is
  serialised, under the state lock, and nothing changes it. Nested paths and list elements
  still go through moto.
- `Item.__new__`: moto's models append every instance to a class-wide list, for its dashboard;
  for items that is every result of every query and scan, kept until the server stops.
- `DynamoType.cast_value`: what every key comparison of a query's sort calls, a handful of
  type checks each time; strings, binaries and booleans are their own value.
- `Item.size`: moto re-sizes an item each time it is asked, two or three times per item of
  every query and write. Here an item remembers its size until UpdateItem changes it in place
  (moto's only in-place change: puts, PartiQL and restores make new items).
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

from localaws.capacity import find_item

ITEM_SIZE_LIMIT = 405_000  # moto's: between AWS's documented 400 KB and the measured 409-410 KB

_installed = False


def _size(value: DynamoType) -> int:
    if value.type == "S":  # most values: skip moto's chain of type checks
        return bytesize(value.value)
    if value.is_map():
        return sum(bytesize(k) + _size(v if isinstance(v, DynamoType) else DynamoType(v)) for k, v in value.value.items())
    if value.is_list():
        return sum(_size(v) for v in value.value)
    return _moto_size(value)


def _item_size(self: Item) -> int:
    size = self.__dict__.get("_localaws_size")
    if size is None:
        size = self.__dict__["_localaws_size"] = _moto_item_size(self)
    return size


def _forget_size(table: Any, key: dict[str, Any]) -> None:
    item = find_item(table, key) if table is not None else None
    if item is not None:
        item.__dict__.pop("_localaws_size", None)


def _init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict(values)  # dict.update: no per-attribute size check


def _top_level(projection_expressions: list[list[str]]) -> list[str] | None:
    names = []
    for path in projection_expressions:
        if len(path) != 1 or not isinstance(path[0], str) or "[" in path[0]:
            return None
        names.append(path[0])
    return names


# (projection, its top-level names): moto projects every result of a query with one list
_last_projection: tuple[Any, list[str] | None] = (None, None)


def _project(self: Item, projection_expressions: list[list[str]]) -> Item:
    global _last_projection
    paths, names = _last_projection
    if paths is not projection_expressions:
        names = _top_level(projection_expressions)
        _last_projection = (projection_expressions, names)
    if names is None:
        return _moto_project(self, projection_expressions)
    projected = object.__new__(Item)
    projected.hash_key, projected.range_key = self.hash_key, self.range_key
    attrs = self.attrs
    projected.attrs = LimitedSizeDict({name: attrs[name] for name in names if name in attrs})
    return projected


def _untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


_AS_IS = frozenset({"S", "B", "BOOL"})  # moto's cast_value returns these types' value unchanged


def _cast_value(self: DynamoType) -> Any:
    return self.value if self.type in _AS_IS else _moto_cast_value(self)


_moto_size = DynamoType.size
_moto_item_size = Item.size
_moto_init = Item.__init__
_moto_project = Item.project
_moto_cast_value = DynamoType.cast_value.fget


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    DynamoType.size = _size  # type: ignore[method-assign]
    Item.__new__ = staticmethod(_untracked)  # type: ignore[method-assign,assignment]
    DynamoType.cast_value = property(_cast_value)  # type: ignore[method-assign,assignment]
    Item.__init__ = _init  # type: ignore[method-assign]
    Item.project = _project  # type: ignore[method-assign]
    Item.size = _item_size  # type: ignore[method-assign]
    original_update = DynamoDBBackend.update_item

    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:  # changed in place, possibly partly before an error
            _forget_size(self.tables.get(table_name), key)

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


def moto_originals() -> dict[str, Any]:
    """moto's own versions, for tests that compare the two."""
    return {"size": _moto_size, "init": _moto_init, "project": _moto_project, "cast_value": _moto_cast_value}
