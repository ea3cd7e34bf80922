"""DynamoDB point-in-time recovery, which moto only imitates (its restore copies the current
items, its restorable times are wrong).

Each table whose recovery is ENABLED keeps an item history (each Region's replica its own):
the items it held when recovery was enabled, then every successful write (PutItem,
UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, copies of writes made in another
Region) as (time, key, new item or None). Keys and items are pickled DynamoDB JSON: a backup
table takes hundreds of thousands of writes, and live moto items would cost several times
the memory and the collector's time. Disabling recovery drops the history and enabling it
starts a new window, as in AWS. Deleting the table drops it too: AWS restores a deleted
table only from the system backup it takes on deletion, which is not emulated.

``DescribeContinuousBackups`` shows the window: from the enable time (or the recovery period
ago, if later) to ``lag`` seconds ago, never before its start (AWS allows a restore to the
latest time right after enabling). ``RestoreTableToPointInTime`` replays the history up to the
restore time (a write at that instant counts) into a new table of the same Region with the
source's keys, indexes, billing mode and encryption: no stream, no TTL, recovery DISABLED,
not a global table. It is CREATING for ``restore_delay`` seconds, during which data-plane
calls on it fail as DynamoDB fails them (ResourceNotFoundException).

Everything here runs under backends.STATE_LOCK.
"""

from __future__ import annotations

import array
import bisect
import copy
import dataclasses
import datetime
import decimal
import itertools
import pickle
import time
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from localaws import backends, table_description
from localaws.capacity import find_item
from localaws.ddb_requests import DATA_PLANE, ItemRef, tables
from localaws.global_tables import GLOBAL_TABLES, table_params

OPERATIONS = frozenset({"DescribeContinuousBackups", "UpdateContinuousBackups", "RestoreTableToPointInTime"})
DEFAULT_PERIOD_DAYS = 35
_DAY = 86_400.0
# RestoreTableToPointInTime settings that change the restored table: not emulated.
_OVERRIDES = frozenset({
    "BillingModeOverride", "GlobalSecondaryIndexOverride", "LocalSecondaryIndexOverride",
    "ProvisionedThroughputOverride", "OnDemandThroughputOverride", "SSESpecificationOverride",
    "VectorIndexOverride",
})  # fmt: skip
_RESTORED = "_localaws_restored"  # a restored table's attribute: its _Restored

# The API reference's wording of these errors.
_TABLE_NOT_FOUND = (
    "A source table with the name {} does not currently exist within the subscriber's account "
    "or the subscriber is operating in the wrong Amazon Web Services Region."
)
_UNAVAILABLE = "Point in time recovery has not yet been enabled for this source table."
_INVALID_TIME = (
    "An invalid restore time was specified. RestoreDateTime must be between "
    "EarliestRestorableDateTime and LatestRestorableDateTime."
)


class DynamoError(Exception):
    """A refused call: DynamoDB's error code and message (HTTP 400)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _History:
    """One table's recovery window: appended in time order, read by bisection."""

    def __init__(self, created_at: datetime.datetime, enabled_at: float, period_days: int):
        self.created_at = created_at  # tells the table apart from a later one of the same name
        self.enabled_at = enabled_at
        self.period_days = period_days
        self.times = array.array("d")
        self.keys: list[bytes] = []
        self.items: list[bytes | None] = []

    def append(self, when: float, key: bytes, item: bytes | None) -> None:
        if self.times and when < self.times[-1]:  # the wall clock stepped back: keep the order
            when = self.times[-1]
        self.times.append(when)
        self.keys.append(key)
        self.items.append(item)

    def window(self, now: float, lag: float) -> tuple[float, float]:
        earliest = max(self.enabled_at, now - self.period_days * _DAY)
        return earliest, max(earliest, now - lag)

    def items_at(self, when: float) -> list[bytes]:
        """The items present at ``when``, pickled."""
        count = bisect.bisect_right(self.times, when)
        latest = dict(zip(itertools.islice(self.keys, count), itertools.islice(self.items, count)))
        return [item for item in latest.values() if item is not None]


@dataclasses.dataclass
class _Restored:
    source_arn: str
    restored_to: float  # epoch seconds
    ready_at: float  # monotonic time it becomes ACTIVE

    def creating(self) -> bool:
        return time.monotonic() < self.ready_at


class PointInTime:
    """Item histories by (account, Region, table name). Use under STATE_LOCK."""

    def __init__(self) -> None:
        self._histories: dict[tuple[str, str, str], _History] = {}
        self.lag = 300.0  # seconds LatestRestorableDateTime trails now
        self.restore_delay = 2.0  # seconds a restored table stays CREATING

    def reset(self) -> None:
        self._histories.clear()

    def forget(self, account: str, region: str, table_name: str) -> None:
        """The table was deleted."""
        self._histories.pop((account, region, table_name), None)

    def answer(self, account: str, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """The reply to one of OPERATIONS; raises DynamoError."""
        backend = backends.dynamodb(account, region)
        if operation == "RestoreTableToPointInTime":
            return {"TableDescription": _jsonable(self._restore(backend, params).describe()["TableDescription"])}
        name = params.get("TableName", "")
        table = backend.tables.get(name)
        if table is None:
            raise DynamoError("TableNotFoundException", _TABLE_NOT_FOUND.format(name))
        if operation == "UpdateContinuousBackups":
            self._update(backend, table, params.get("PointInTimeRecoverySpecification") or {})
        return {"ContinuousBackupsDescription": self._description(table)}

    def record(self, account: str, region: str, refs: list[ItemRef], plain: bool) -> None:
        """Append the items written in ``region`` (after the write and its replication) to the
        histories of that table and its replicas. ``plain``: the request holds no binary values,
        so a put's request item is exactly what moto stored."""
        if not self._histories:
            return
        now = time.time()
        source_tables = backends.dynamodb(account, region).tables
        for ref in refs:
            histories = []
            for where in (region, *GLOBAL_TABLES.copied_to(account, region, ref.table)):
                table = backends.dynamodb(account, where).tables.get(ref.table)
                history = self._history(table) if table is not None else None
                if history is not None:
                    histories.append(history)
            if not histories:
                continue
            source = source_tables[ref.table]
            if ref.put and plain:
                item = _dump(ref.attributes)
            else:
                found = find_item(source, ref.attributes)
                item = None if found is None else _dump(found.to_json()["Attributes"])
            key = _key(source, ref.attributes)
            for history in histories:
                history.append(now, key, item)

    def creating(self, backend: DynamoDBBackend, operation: str, params: dict[str, Any]) -> bool:
        """Whether a data-plane call names a table that is still being restored."""
        if operation not in DATA_PLANE:
            return False
        for name in tables(operation, params):
            restored = getattr(backend.tables.get(name), _RESTORED, None)
            if restored is not None and restored.creating():
                return True
        return False

    def describe(self, table: Table, description: dict[str, Any]) -> None:
        restored = getattr(table, _RESTORED, None)
        if restored is None:
            return
        creating = restored.creating()
        if creating:
            description["TableStatus"] = "CREATING"
        description["RestoreSummary"] = {
            "SourceTableArn": restored.source_arn,
            "RestoreDateTime": datetime.datetime.fromtimestamp(restored.restored_to, datetime.timezone.utc),
            "RestoreInProgress": creating,
        }

    def _history(self, table: Table) -> _History | None:
        key = (table.account_id, table.region_name, table.name)
        history = self._histories.get(key)
        if history is not None and history.created_at != table.created_at:  # left by a deleted namesake
            del self._histories[key]
            return None
        return history

    def _update(self, backend: DynamoDBBackend, table: Table, spec: dict[str, Any]) -> None:
        enabled = spec.get("PointInTimeRecoveryEnabled")
        period = spec.get("RecoveryPeriodInDays")
        if not isinstance(enabled, bool):
            raise DynamoError("ValidationException", "PointInTimeRecoveryEnabled must be true or false.")
        if period is not None and (not isinstance(period, int) or not 1 <= period <= DEFAULT_PERIOD_DAYS):
            raise DynamoError("ValidationException", "RecoveryPeriodInDays must be between 1 and 35.")
        history = self._history(table)
        if not enabled:
            self.forget(table.account_id, table.region_name, table.name)
        elif history is None:
            history = _History(table.created_at, time.time(), period or DEFAULT_PERIOD_DAYS)
            for found in table.all_items():
                attributes = found.to_json()["Attributes"]
                history.append(history.enabled_at, _key(table, attributes), _dump(attributes))
            self._histories[(table.account_id, table.region_name, table.name)] = history
        elif period is not None:
            history.period_days = period
        backend.update_continuous_backups(table.name, spec)  # moto's own flag, for ExportTableToPointInTime

    def _description(self, table: Table) -> dict[str, Any]:
        history = self._history(table)
        if history is None:
            recovery: dict[str, Any] = {"PointInTimeRecoveryStatus": "DISABLED"}
        else:
            earliest, latest = history.window(time.time(), self.lag)
            recovery = {
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": history.period_days,
                "EarliestRestorableDateTime": earliest,
                "LatestRestorableDateTime": latest,
            }
        return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": recovery}

    def _restore(self, backend: DynamoDBBackend, params: dict[str, Any]) -> Table:
        overrides = sorted(_OVERRIDES & set(params))
        if overrides:
            raise DynamoError("ValidationException", f"localaws does not emulate {', '.join(overrides)}.")
        use_latest = params.get("UseLatestRestorableTime") is True
        if use_latest == ("RestoreDateTime" in params):
            raise DynamoError("ValidationException", "Specify either RestoreDateTime or UseLatestRestorableTime, not both.")
        source = _source(backend, params)
        target = params.get("TargetTableName", "")
        if target in backend.tables:
            raise DynamoError("TableAlreadyExistsException", f"Table already exists: {target}")
        history = self._history(source)
        if history is None:
            raise DynamoError("PointInTimeRecoveryUnavailableException", _UNAVAILABLE)
        earliest, latest = history.window(time.time(), self.lag)
        try:
            when = latest if use_latest else float(params["RestoreDateTime"])
        except (TypeError, ValueError):
            raise DynamoError("ValidationException", "RestoreDateTime must be a timestamp.") from None
        if not earliest <= when <= latest:
            raise DynamoError("InvalidRestoreTimeException", _INVALID_TIME)

        settings = table_params(source)
        settings["streams"] = None
        if settings["sse_specification"]:
            settings["sse_specification"] = copy.deepcopy(source.sse_specification)  # the source's own key
        table = backend.create_table(target, **settings)
        for item in history.items_at(when):
            table.put_item(pickle.loads(item))
        setattr(table, _RESTORED, _Restored(source.table_arn, when, time.monotonic() + self.restore_delay))
        return table


POINT_IN_TIME = PointInTime()


def _source(backend: DynamoDBBackend, params: dict[str, Any]) -> Table:
    name, arn = params.get("SourceTableName"), params.get("SourceTableArn")
    if bool(name) == bool(arn):
        raise DynamoError("ValidationException", "Specify either SourceTableName or SourceTableArn, not both.")
    if name:
        table = backend.tables.get(name)
    else:
        table = next((table for table in backend.tables.values() if table.table_arn == arn), None)
        name = str(arn).rpartition("/")[2]
    if table is None:
        raise DynamoError("TableNotFoundException", _TABLE_NOT_FOUND.format(name))
    return table


def _key(table: Table, attributes: dict[str, Any]) -> bytes:
    parts = []
    for name in (table.hash_key_attr, table.range_key_attr):
        if name:
            ((kind, value),) = attributes[name].items()
            if kind == "N":
                value = str(decimal.Decimal(value).normalize())  # 1, 1.0 and 10E-1 are one key
            parts.append((kind, value))
    return repr(parts).encode()


def _dump(attributes: dict[str, Any]) -> bytes:
    return pickle.dumps(attributes, protocol=pickle.HIGHEST_PROTOCOL)


def _jsonable(value: Any) -> Any:
    """moto's table description as JSON: timestamps in epoch seconds, no empty members."""
    if isinstance(value, dict):
        return {key: _jsonable(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [_jsonable(member) for member in value]
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)  # moto's are naive UTC
        return aware.timestamp()
    return value


def install() -> None:
    """Show a restore's status and summary in moto's table descriptions (idempotent)."""
    table_description.extend(POINT_IN_TIME.describe)
