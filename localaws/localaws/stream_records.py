"""DynamoDB stream records built when read, not on every write.

moto builds a stream record for each write to a table with a stream (every backup table has
one: global tables need it, and a replica's copy of each write makes a second record): the
old and new images as DynamoDB JSON, measured by serialising the whole record. Building them was a
sixth of what a batch write into a replicated table cost the emulator, under the state lock,
for records nothing reads unless a test asks for them.

Here a record keeps the old and new items it was given and its write time, and builds the
record moto would have built the first time it is read. An item a table holds is changed in
place only by UpdateItem (moto's puts, PartiQL and restores make new items; a replaced or
deleted item leaves the table, and UpdateItem's old image is a private copy): before an
update, the records whose new image is that item are built, so each shows the item as it was
when written.
"""

from __future__ import annotations

import weakref
from typing import Any

import moto.dynamodb.models.table as table_module
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamRecord
from moto.dynamodb.models.utilities import dynamo_json_dump

from localaws.capacity import find_item

_installed = False
_UNMEASURED = 0  # a measured record is never empty
_PENDING = "_localaws_streamed"  # an item's __dict__: weak references to the unbuilt records showing it as new
_ARGUMENTS = "_localaws_arguments"  # an unbuilt record's __dict__: moto's arguments and the write time


def _init(self: StreamRecord, table: Any, stream_type: str, event_name: str, old: Item | None, new: Item | None, seq: int) -> None:
    self.__dict__[_ARGUMENTS] = (table, stream_type, event_name, old, new, seq, table_module.utcnow())
    if new is not None:  # weak: an item and its records must not form a cycle the server never collects
        new.__dict__.setdefault(_PENDING, []).append(weakref.ref(self))


def _build(self: StreamRecord) -> dict[str, Any]:
    arguments = self.__dict__.pop(_ARGUMENTS, None)
    if arguments is not None:
        *moto_arguments, written_at = arguments
        try:
            # moto measures with `dynamo_json_dump` from its module: skip it while building
            table_module.dynamo_json_dump = lambda _: ""
            _moto_init(self, *moto_arguments)
        finally:
            table_module.dynamo_json_dump = dynamo_json_dump
        self.record["dynamodb"]["ApproximateCreationDateTime"] = written_at
    return self.__dict__["record"]


def _to_json(self: StreamRecord) -> dict[str, Any]:
    record = _build(self)
    body = record["dynamodb"]
    if body["SizeBytes"] == _UNMEASURED:
        body["SizeBytes"] = 1  # as moto does: measured with the placeholder in place
        body["SizeBytes"] = len(dynamo_json_dump(body))
    return record


def build_pending(item: Item | None) -> None:
    """Build the records that show ``item`` as their new image, before it changes in place."""
    if item is None:
        return
    for reference in item.__dict__.pop(_PENDING, ()):
        record = reference()
        if record is not None:
            _build(record)


_moto_init = StreamRecord.__init__
_moto_to_json = StreamRecord.to_json


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    StreamRecord.__init__ = _init  # type: ignore[method-assign]
    StreamRecord.to_json = _to_json  # type: ignore[method-assign]
    original_update = DynamoDBBackend.update_item

    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        if table is not None and table.stream_shard is not None:
            build_pending(find_item(table, key))
        return original_update(self, table_name, key, *args, **kwargs)

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


def moto_originals() -> dict[str, Any]:
    """moto's own versions, for tests that compare the two."""
    return {"init": _moto_init, "to_json": _moto_to_json}
