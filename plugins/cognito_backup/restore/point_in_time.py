"""Restore from the backup as it was at a point in time, through DynamoDB point-in-time recovery.

With a `restore_point`, the import first restores the backup table as it was then into a new
table of the same Region (`<table>-pitr-<UTC time>`), waits for it without holding a worker
slot, and every later step reads that table instead. After a successful run the restored table
is deleted, unless the run keeps it. A failed run keeps it, so that clearing the failed task
(or triggering the same import again) goes on from it instead of restoring again.

Everything that can be checked before the restore is: the time (not in the future, within the
table's restorable window) and point-in-time recovery of the table in the Region read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cognito_backup.base import CognitoBackupBaseOperator, truthy
from cognito_backup.compat import AirflowFailException
from cognito_backup.hooks.backup_table import BackupTableHook, TableMissingError
from cognito_backup.triggers.table import TableActiveTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

SUFFIX = "-pitr-"
TABLE_XCOM = "table_name"
MAX_TABLE_NAME = 255


class RestorePointProblem(ValueError):
    """A restore point that cannot be restored; the message says why (times and names only)."""


def parse_restore_point(value: Any) -> datetime | None:
    """The `restore_point` param as an aware UTC datetime (None when not given)."""
    if value in (None, "", "None"):
        return None
    try:
        point = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise RestorePointProblem(
            f"restore_point {value!r} is not an ISO-8601 time, e.g. 2026-11-30T14:00:00Z") from None
    if point.tzinfo is None:
        raise RestorePointProblem(f"restore_point {value!r} has no time zone: end it with Z (UTC)")
    return point.astimezone(timezone.utc)


def restored_table_name(table_name: str, point: datetime) -> str:
    """The table a restore point is restored into: found again by a retried or re-triggered run."""
    suffix = f"{SUFFIX}{point:%Y%m%dT%H%M%SZ}"
    return table_name[: MAX_TABLE_NAME - len(suffix)] + suffix


def window_problem(point: datetime, recovery: dict[str, Any], now: datetime) -> str | None:
    """Why `point` cannot be restored from a table with this `PointInTimeRecoveryDescription`."""
    if point > now:
        return f"restore_point {point:%Y-%m-%dT%H:%M:%SZ} is in the future"
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        return "point-in-time recovery is not enabled"
    earliest, latest = recovery.get("EarliestRestorableDateTime"), recovery.get("LatestRestorableDateTime")
    if earliest and point < earliest or latest and point > latest:
        return (
            f"restore_point {point:%Y-%m-%dT%H:%M:%SZ} is outside the restorable window, "
            f"{earliest:%Y-%m-%dT%H:%M:%SZ} to {latest:%Y-%m-%dT%H:%M:%SZ}"
        )
    return None


class RestoreToPointInTimeOperator(CognitoBackupBaseOperator):
    """The table the import reads: the backup table itself, or a restore of it at `restore_point`.

    Returns ``{"table_name": ..., "restored": bool}``; the name is also its ``table_name`` XCom,
    which later tasks read.

    :param restore_point: ISO-8601 UTC time, or empty for the backup as it is now.
    :param waiter_delay: seconds between polls of the restored table's status.
    :param waiter_max_attempts: polls before giving up (the default allows 24 hours).
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "restore_point")

    def __init__(self, *, restore_point: Any = None, waiter_delay: int = 15, waiter_max_attempts: int = 5760,
                 **kwargs: Any) -> None:
        super().__init__(user_pool_id="", **kwargs)
        self.restore_point = restore_point
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            point = parse_restore_point(self.restore_point)
        except RestorePointProblem as problem:
            raise AirflowFailException(str(problem)) from None
        if point is None:
            return self._result(context, self.table_name, restored=False)
        target = restored_table_name(self.table_name, point)
        restored = BackupTableHook(target, aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                                   caller=type(self).__name__)
        try:
            description = restored.describe()
            self._check_is_restore_of(description, point)
            self.log.info("Table %s restored to %s already exists: reading it", target, f"{point:%Y-%m-%dT%H:%M:%SZ}")
        except TableMissingError:
            self._check_restorable(point)
            self.log.info("Restoring table %s as it was at %s into %s", self.table_name,
                          f"{point:%Y-%m-%dT%H:%M:%SZ}", target)
            description = self.table_hook.restore_to_point_in_time(target, point)
        if description.get("TableStatus") != "ACTIVE":
            self.defer(
                trigger=TableActiveTrigger(
                    table_name=target, waiter_delay=self.waiter_delay, waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 600),
            )
        return self._result(context, target, restored=True)

    @staticmethod
    def _result(context: Context, table_name: str, restored: bool) -> dict[str, Any]:
        context["ti"].xcom_push(key=TABLE_XCOM, value=table_name)
        return {"table_name": table_name, "restored": restored}

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        if event.get("status") != "success":
            raise RuntimeError(event.get("message") or "the restored table did not become ACTIVE")
        self.log.info("Restored table %s is ACTIVE", event["table_name"])
        return self._result(context, event["table_name"], restored=True)

    def _check_restorable(self, point: datetime) -> None:
        try:
            recovery = self.table_hook.point_in_time_recovery()
        except TableMissingError as missing:
            raise AirflowFailException(str(missing)) from None
        problem = window_problem(point, recovery, datetime.now(timezone.utc))
        if problem:
            raise AirflowFailException(
                f"cannot restore table {self.table_name} in {self.region_name} to a point in time: {problem}"
                + (" (turn it on for the table in every Region: the export does when it manages the table)"
                   if "not enabled" in problem else "")
            )

    def _check_is_restore_of(self, description: dict[str, Any], point: datetime) -> None:
        summary = description.get("RestoreSummary") or {}
        source = str(summary.get("SourceTableArn", ""))
        when = summary.get("RestoreDateTime")
        if not source.endswith(f":table/{self.table_name}") or when is None or abs((when - point).total_seconds()) >= 1:
            raise AirflowFailException(
                f"a table named {description.get('TableName')} exists in {self.region_name} and is not this backup "
                f"restored to {point:%Y-%m-%dT%H:%M:%SZ}; delete or rename it"
            )


class DropRestoredTableOperator(CognitoBackupBaseOperator):
    """Delete the table restored for this run, unless the run keeps it.

    :param source: the point-in-time task's result.
    :param keep_restored_table: keep it (to compare, or to run more imports from it).
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "source", "keep_restored_table")

    def __init__(self, *, source: Any = None, keep_restored_table: Any = False, **kwargs: Any) -> None:
        super().__init__(user_pool_id="", **kwargs)
        self.source = source
        self.keep_restored_table = keep_restored_table

    def execute(self, context: Context) -> dict[str, Any]:
        source = self.source or {}
        if not source.get("restored"):
            return {"dropped": False}
        name = source["table_name"]
        if truthy(self.keep_restored_table):
            self.log.info("Keeping the restored table %s in %s (keep_restored_table)", name, self.region_name)
            return {"dropped": False, "kept": name}
        if SUFFIX not in name:  # never the backup table itself
            raise AirflowFailException(f"refusing to delete {name}: not a table restored by this import")
        restored = BackupTableHook(name, aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                                   caller=type(self).__name__)
        try:
            restored.drop()
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        self.log.info("Deleted the restored table %s", name)
        return {"dropped": True}
