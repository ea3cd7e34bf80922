"""DynamoDB stream records that size themselves when read, not on every write.

moto builds a stream record for each write to a table with a stream (every backup table has
one: global tables need it) and measures it by serialising the whole record to JSON, which
was about a quarter of what a batch write cost the emulator, under the state lock. Here the
record's images are taken at write time as before (later in-place updates must not show in
them) and `SizeBytes` is measured the first time the record is read.
"""

from __future__ import annotations

from typing import Any

import moto.dynamodb.models.table as table_module
from moto.dynamodb.models.table import StreamRecord
from moto.dynamodb.models.utilities import dynamo_json_dump

_installed = False
_UNMEASURED = 0  # a measured record is never empty


def _init(self: StreamRecord, *args: Any, **kwargs: Any) -> None:
    try:
        # moto measures with `dynamo_json_dump` from its module: skip it while building
        table_module.dynamo_json_dump = lambda _: ""
        _moto_init(self, *args, **kwargs)
    finally:
        table_module.dynamo_json_dump = dynamo_json_dump


def _to_json(self: StreamRecord) -> dict[str, Any]:
    body = self.record["dynamodb"]
    if body["SizeBytes"] == _UNMEASURED:
        body["SizeBytes"] = 1  # as moto does: measured with the placeholder in place
        body["SizeBytes"] = len(dynamo_json_dump(body))
    return self.record


_moto_init = StreamRecord.__init__
_moto_to_json = StreamRecord.to_json


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    StreamRecord.__init__ = _init  # type: ignore[method-assign]
    StreamRecord.to_json = _to_json  # type: ignore[method-assign]


def moto_originals() -> dict[str, Any]:
    """moto's own versions, for tests that compare the two."""
    return {"init": _moto_init, "to_json": _moto_to_json}
