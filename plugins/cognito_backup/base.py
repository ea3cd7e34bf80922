"""What every operator of this package shares: connection, Regions, table, Cognito budget."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cognito_backup.budget import Budget, CallBudget
from cognito_backup.compat import BaseOperator
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.hooks.cognito import CognitoHook
from cognito_backup.rate_limit import DynamoDBSchedule, LocalSchedule

if TYPE_CHECKING:
    from airflow.sdk import Context


def truthy(value: Any) -> bool:
    """A templated boolean ("True", "false", True...)."""
    return str(value).strip().lower() in ("true", "1", "yes")


def run_key(context: Context) -> str:
    """What names this DAG run in the table's bookkeeping items (call budget, staged deletions)."""
    return f"{context['dag'].dag_id}/{context['run_id']}"


def run_started_ms(context: Context) -> int:
    """This run's export timestamp: when the run started, in epoch milliseconds."""
    start = context["dag_run"].start_date
    return int(start.timestamp() * 1000)


class CognitoBackupBaseOperator(BaseOperator):
    """Connection, Regions, table and Cognito budget shared by the export and import operators.

    :param user_pool_id: the pool to back up.
    :param table_name: the backup table.
    :param cognito_tps: Cognito calls per second for the whole DAG run, across all its tasks; with
        ``cognito_quota_share``, a cap on all calls together (None: none).
    :param cognito_quota_share: a budget per quota category, this share of each category's quota
        (None: ``cognito_tps`` alone). See `cognito_backup.budget`.
    :param cognito_quotas: category -> quota, where AWS raised the account's quotas.
    :param cognito_category_tps: category -> calls per second, a cap below the category's share.
    :param aws_conn_id: Airflow connection for AWS.
    :param region_name: the table's Region (the export's primary Region).
    :param cognito_region_name: the pool's Region, when not the table's (a restore elsewhere).
    """

    template_fields: Sequence[str] = (
        "user_pool_id", "table_name", "cognito_tps", "cognito_quota_share", "cognito_quotas", "cognito_category_tps",
        "region_name", "cognito_region_name",
    )
    ui_color = "#dd6e42"

    def __init__(
        self,
        *,
        user_pool_id: str,
        table_name: str,
        cognito_tps: float | str | None = 10,
        cognito_quota_share: float | str | None = None,
        cognito_quotas: dict[str, float] | str | None = None,
        cognito_category_tps: dict[str, float] | str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        cognito_region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_pool_id = user_pool_id
        self.table_name = table_name
        self.cognito_tps = cognito_tps
        self.cognito_quota_share = cognito_quota_share
        self.cognito_quotas = cognito_quotas
        self.cognito_category_tps = cognito_category_tps
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.cognito_region_name = cognito_region_name
        self._budget: CallBudget | None = None
        self._cognito: CognitoHook | None = None

    @cached_property
    def table_hook(self) -> BackupTableHook:
        hook = BackupTableHook(
            self.table_name, aws_conn_id=self.aws_conn_id, region_name=self.region_name, caller=type(self).__name__
        )
        # Its client made here, on the task's thread, before threads scan with it: on Airflow 3.0
        # (MWAA 3.0.6) a task looks a connection up through one unlocked channel to its
        # supervisor, and look-ups from several threads at once can mix up their answers.
        hook.conn  # noqa: B018
        return hook

    @cached_property
    def budget(self) -> Budget:
        """The run's Cognito call budget (read once the fields are rendered)."""
        return Budget.of(self.cognito_tps, self.cognito_quota_share, self.cognito_quotas, self.cognito_category_tps)

    def cognito_hook(self, context: Context, shared: bool = True) -> CognitoHook:
        """A Cognito hook paced by the run's budget (a per-process one when not `shared`)."""
        key = run_key(context)

        def schedule(category: str | None) -> DynamoDBSchedule | LocalSchedule:
            if not shared:
                return LocalSchedule()
            return DynamoDBSchedule(self.table_hook.plain_client, self.table_name, key if category is None else f"{key}#{category}")

        self._budget = CallBudget(self.budget, schedule)
        hook = CognitoHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.cognito_region_name or self.region_name,
            rate_limiter=self._budget,
            caller=type(self).__name__,
        )
        # Made here, before any worker thread: `cached_property` has no lock from Python 3.12 on,
        # and threads racing for the first call would each make a client.
        hook.conn  # noqa: B018
        self._cognito = hook
        return hook

    def throttled_calls(self) -> dict[str, int]:
        """For a task's counts: its Cognito attempts that were throttled (each was retried)."""
        return {"throttled_calls": self._cognito.throttled if self._cognito else 0}

    def release_budget(self) -> None:
        if self._budget is not None:
            self._budget.close()
            used = self._budget.usage()
            self.log.info("Cognito budget: %s", "; ".join(
                f"{name} {calls} calls, {dropped} slots dropped ({late} woken late for, {sent} given up"
                f" for calls sent late)"
                for name, (calls, dropped, late, sent) in sorted(used.items())
            ) or "no call")
