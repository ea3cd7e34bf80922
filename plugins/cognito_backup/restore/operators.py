"""Operators of the import DAG. Each stays thin over the hooks and the restore modules and
returns a small XCom of counts and ids, never user data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from cognito_backup import items, pool
from cognito_backup.base import CognitoBackupBaseOperator, run_started_ms, truthy
from cognito_backup.budget import Budget, BudgetError
from cognito_backup.compat import AirflowFailException, BaseOperator
from cognito_backup.hooks.backup_table import TableMissingError
from cognito_backup.progress import Progress
from cognito_backup.restore import csv_file, target
from cognito_backup.restore.admin_users import CognitoCallError, UserRestorer, error_code
from cognito_backup.restore.live_pool import MISSING_ONLY, NEW_POOL
from cognito_backup.restore.point_in_time import RestorePointProblem, parse_restore_point
from cognito_backup.restore.parallel import Workers, list_pool_users, scan_kinds, scan_parallel, threads_for
from cognito_backup.restore.report import ReportWriter, parse_s3_uri, summary
from cognito_backup.restore.verify import Comparison, load

try:  # Airflow 3 / standard provider
    from airflow.providers.standard.operators.branch import BaseBranchOperator
except ImportError:  # Airflow 2.x without the standard provider
    from airflow.operators.branch import BaseBranchOperator  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.sdk import Context

ROLE_VARIABLE = "cognito_import_role_arn"
USERS_PER_SEGMENT = 20_000
MEMBERSHIPS_PER_SEGMENT = 50_000
MAX_SEGMENTS = 8
BACKUP_XCOM = "backup"
PLAN_XCOM = "plan"


def as_list(value: Any) -> list[Any]:
    """XCom of a mapped task: None, one value, or a list of values."""
    if value is None:
        return []
    # A list on Airflow 3, a lazy sequence on Airflow 2.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def add_counts(total: dict[str, int], part: dict[str, Any] | None) -> dict[str, int]:
    for key, value in (part or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + int(value)
        elif isinstance(value, dict):
            for sub, n in value.items():
                total[f"{key}.{sub}"] = total.get(f"{key}.{sub}", 0) + int(n)
    return total


def segments_for(count: int, per_segment: int) -> int:
    return max(1, min(MAX_SEGMENTS, -(-int(count) // per_segment)))


class CheckImportParamsOperator(BaseOperator):
    """Rules across parameters that the DAG's param schema cannot express. Fails before any read or write.

    :param cloudwatch_logs_role_arn: the role Cognito's import jobs log with (Airflow Variable
        ``cognito_import_role_arn``); needed by the ``csv_import`` strategy.
    """

    template_fields: Sequence[str] = ("cloudwatch_logs_role_arn",)
    ui_color = "#f0e4ec"

    def __init__(self, *, cloudwatch_logs_role_arn: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cloudwatch_logs_role_arn = cloudwatch_logs_role_arn

    def execute(self, context: Context) -> dict[str, Any]:
        p = context["params"]
        target_region = p.get("target_region") or p["table_region"]
        pool_id = p.get("target_user_pool_id")
        problems = []
        if not pool_id and not p.get("create_target_pool"):
            problems.append("target_user_pool_id is required unless create_target_pool is true")
        if pool_id and p.get("create_target_pool"):
            problems.append("give target_user_pool_id or create_target_pool, not both")
        if pool_id and pool_id.split("_", 1)[0] != target_region:
            problems.append(
                f"target_user_pool_id {pool_id} is a pool of Region {pool_id.split('_', 1)[0]}, "
                f"but target_region is {target_region}"
            )
        if p.get("target_mode", NEW_POOL) == MISSING_ONLY and not pool_id:
            problems.append("target_mode missing_only restores into an existing pool: give target_user_pool_id")
        try:
            point = parse_restore_point(p.get("restore_point"))
        except RestorePointProblem as problem:
            problems.append(str(problem))
        else:
            if point and point > datetime.now(timezone.utc):
                problems.append(f"restore_point {point:%Y-%m-%dT%H:%M:%SZ} is in the future")
        try:
            budget = Budget.of(p.get("cognito_tps"), p.get("cognito_quota_share"), p.get("cognito_quotas"),
                               p.get("cognito_category_tps"))
        except BudgetError as problem:
            problems.append(str(problem))
        if p.get("strategy", "csv_import") == "csv_import" and not self.cloudwatch_logs_role_arn:
            problems.append(
                f"the csv_import strategy needs the Airflow Variable {ROLE_VARIABLE}: the ARN of an IAM role "
                "Cognito import jobs write their CloudWatch logs with (or use strategy admin_create)"
            )
        if problems:
            raise AirflowFailException("import parameters rejected: " + "; ".join(problems))
        settings = {
            "target_region": target_region,
            "strategy": p.get("strategy", "csv_import"),
            "dry_run": bool(p.get("dry_run")),
            "create_target_pool": bool(p.get("create_target_pool")),
            "target_mode": p.get("target_mode", NEW_POOL),
            "restore_point": p.get("restore_point") or None,
        }
        self.log.info("Import parameters accepted: %s", summary(settings) or settings)
        self.log.info("Cognito budget: %s", budget.describe())
        return settings


class ChooseBranchOperator(BaseBranchOperator):
    """Follow the branch named by a templated value.

    :param choice: e.g. ``"{{ params.strategy }}"``.
    :param branches: choice -> task ids to follow.
    """

    template_fields: Sequence[str] = ("choice",)
    ui_color = "#e8f7e4"

    def __init__(self, *, choice: str, branches: dict[str, str | list[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choice = choice
        self.branches = branches

    def choose_branch(self, context: Context) -> str | list[str]:
        key = str(self.choice).strip()
        if key in ("True", "False"):
            key = key.lower()
        if key not in self.branches:
            raise AirflowFailException(f"no branch for {key!r}; expected one of {sorted(self.branches)}")
        return self.branches[key]


class ReadBackupOperator(CognitoBackupBaseOperator):
    """Read the manifest and pool snapshot; fail clearly when there is no completed export.

    Returns the table's scan segments that the users and memberships steps are mapped over
    (one per ~20,000 users or ~50,000 memberships, at most 8); the backup's summary is its
    ``backup`` XCom.
    """

    def execute(self, context: Context) -> list[int]:
        table = self.table_hook
        try:
            table.describe()
        except TableMissingError:
            raise AirflowFailException(
                f"backup table {self.table_name} does not exist in {self.region_name}"
            ) from None
        manifest = table.get_manifest()
        if manifest is None:
            empty = next(iter(table.scan(Limit=1)), None) is None
            raise AirflowFailException(
                f"backup table {self.table_name} in {self.region_name} "
                + ("is empty" if empty else "holds no completed export (no latest-export-timestamp item)")
            )
        legacy = table.get(items.MANIFEST_ID, items.MANIFEST) is None
        has_snapshot = table.get(items.SNAPSHOT_ID, items.SNAPSHOT) is not None
        if "users_listed" in manifest.counts:
            users = manifest.counts.get("users_listed", 0)  # federated users aside
            memberships = manifest.counts.get("memberships_listed", 0)
        else:  # the retired solution kept no counts: the table's size will do
            users = memberships = table.item_count()
        segments = max(segments_for(users, USERS_PER_SEGMENT), segments_for(memberships, MEMBERSHIPS_PER_SEGMENT))
        info = {
            "exported_at": manifest.exported_at,
            "source_user_pool_id": manifest.user_pool_id,
            "legacy_format": legacy,
            "has_snapshot": has_snapshot,
            "estimated_users": users,
            "estimated_memberships": memberships,
            "mfa_reenrolment_needed": manifest.mfa_reenrolment_needed,
            "segments": segments,
        }
        self.log.info(
            "Backup of %s exported at %d: about %d users, %d memberships%s%s",
            manifest.user_pool_id or "a pool", manifest.exported_at, users, memberships,
            "; written by the retired AWS solution" if legacy else "",
            "" if has_snapshot else "; no pool snapshot (a pool cannot be created from it)",
        )
        # Mapped tasks expand over a task's return value only: the segments are it.
        context["ti"].xcom_push(key=BACKUP_XCOM, value=info)
        return list(range(segments))


class _RestoreOperator(CognitoBackupBaseOperator):
    """Shared by the import operators.

    :param backup: the read_backup task's result.
    :param target: the target task's result (the pool's settings), once known.
    :param strategy: ``csv_import`` or ``admin_create``.
    :param legacy_sub_attribute: the custom attribute that carries each user's old sub.
    :param target_mode: ``new_pool`` (the target holds only this restore), or ``missing_only`` (a live
        pool: only what is missing is added, nothing there is changed; see `live_pool`).
    """

    template_fields: Sequence[str] = (
        *CognitoBackupBaseOperator.template_fields, "backup", "target", "strategy", "legacy_sub_attribute",
        "target_mode",
    )
    # The quota categories of the calls this step makes most.
    CATEGORIES: tuple[str, ...] = ("UserList",)

    def __init__(self, *, backup: Any = None, target: Any = None, strategy: str = "csv_import",
                 legacy_sub_attribute: str = "", user_pool_id: str = "", target_mode: str = NEW_POOL,
                 **kwargs: Any) -> None:
        super().__init__(user_pool_id=user_pool_id, **kwargs)
        self.backup = backup
        self.target = target
        self.strategy = strategy
        self.legacy_sub_attribute = legacy_sub_attribute
        self.target_mode = target_mode

    @property
    def live(self) -> bool:
        return str(self.target_mode).strip() == MISSING_ONLY

    def since(self, context: Context) -> float | None:
        """Into a live pool: when the run started (what was made after it is this run's own)."""
        return run_started_ms(context) / 1000 if self.live else None

    @property
    def threads(self) -> int:
        """Enough for the budgets of the categories this step calls most (see `threads_for`)."""
        return threads_for(self.budget.rate_of(self.CATEGORIES))

    @property
    def total_segments(self) -> int:
        return int((self.backup or {}).get("segments", 1))

    @property
    def pool_id(self) -> str:
        return (self.target or {}).get("user_pool_id") or self.user_pool_id

    @property
    def username_attributes(self) -> list[str]:
        return list((self.target or {}).get("username_attributes") or [])

    def present_users(self, context: Context) -> Comparison:
        """A comparison to list the target's users into, for what is there already."""
        return Comparison((self.target or {}).get("legacy_attribute") or None, since=self.since(context))

    def list_target(self, cognito: Any, comparison: Comparison) -> None:
        """Every user of the target, into `comparison` (16 listings in parallel)."""
        list_pool_users(cognito, self.pool_id, lambda page: comparison.add_target_users(page, self.username_attributes))

    def csv_rules(self) -> csv_file.CsvRules:
        t = self.target or {}
        return csv_file.CsvRules(
            t.get("csv_header") or [], t.get("auto_verified") or [], t.get("legacy_attribute") or None
        )


class CheckTargetOperator(_RestoreOperator):
    """Check the target pool with reads only: exists, compatible, empty or holding only this backup.

    :param create_target_pool: a pool is to be created from the backup's snapshot (or found, when
        an earlier run of this import created it).
    :param report_s3_uri: where the report will go: its bucket must be reachable.
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "create_target_pool", "report_s3_uri")

    def __init__(self, *, create_target_pool: Any = False, report_s3_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.create_target_pool = create_target_pool
        self.report_s3_uri = report_s3_uri

    def check_report_bucket(self) -> None:
        if self.report_s3_uri in (None, "", "None"):
            return
        bucket, _ = parse_s3_uri(self.report_s3_uri)
        if not S3Hook(aws_conn_id=self.aws_conn_id).check_for_bucket(bucket):
            raise AirflowFailException(f"the report bucket {bucket} does not exist or cannot be reached")

    def check(self, context: Context) -> target.TargetCheck:
        self.check_report_bucket()
        # Reads only: a per-process budget, so nothing is written to the table either.
        cognito = self.cognito_hook(context, shared=False)
        try:
            return target.check_target(
                cognito, self.table_hook,
                user_pool_id=self.user_pool_id or None,
                create=truthy(self.create_target_pool),
                snapshot=self.table_hook.get_snapshot(),
                exported_at=int((self.backup or {}).get("exported_at", 0)),
                live=self.live,
            )
        except target.TargetProblem as problem:
            raise AirflowFailException(str(problem)) from None
        except ClientError as err:
            raise CognitoCallError("check of the target pool", err) from None

    def execute(self, context: Context) -> dict[str, Any]:
        check = self.check(context)
        if self.live:
            self.log.info("Target pool %s is compatible: what it lacks of the backup will be added", check.user_pool_id)
        elif check.create:
            self.log.info("A user pool %s will be created from the backup's snapshot", check.pool_name)
        elif check.resume:
            self.log.info(
                "Target pool %s holds %d users and %d groups of this backup: the import resumes",
                check.user_pool_id, check.target_users, check.target_groups,
            )
        else:
            self.log.info("Target pool %s is empty and compatible", check.user_pool_id)
        return check.as_dict()


class PrepareTargetOperator(_RestoreOperator):
    """Create the target pool when asked (once: a retry or re-run finds it by name); return its settings.

    :param check: the check task's result.
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "check")

    def __init__(self, *, check: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def execute(self, context: Context) -> dict[str, Any]:
        check = self.check or {}
        cognito = self.cognito_hook(context)
        created = False
        try:
            pool_id = check.get("user_pool_id")
            if check.get("create"):
                pool_id = target.find_pool(cognito, check["pool_name"])
                if pool_id is None:
                    snapshot = self.table_hook.get_snapshot()
                    kwargs = pool.create_pool_kwargs(
                        snapshot or {}, check["pool_name"], self.legacy_sub_attribute or None
                    )
                    pool_id = cognito.create_user_pool(**kwargs)["Id"]
                    created = True
                    self.log.info("Created user pool %s (%s)", pool_id, check["pool_name"])
            info = target.pool_info(cognito, pool_id, self.legacy_sub_attribute, self.strategy == "csv_import")
        except ClientError as err:
            raise CognitoCallError("preparation of the target pool", err) from None
        finally:
            self.release_budget()
        if not info["legacy_attribute"] and self.legacy_sub_attribute:
            self.log.warning(
                "The target pool has no %s attribute: users get new subs and keep no trace of the old ones "
                "(the old-sub to new-sub map is still written)", self.legacy_sub_attribute,
            )
        info.update(created=created, resume=bool(check.get("resume")))
        return info


class RestoreGroupsOperator(_RestoreOperator):
    """Create every group with its description, precedence and role; an identical group is already done.
    Into a live pool, only the groups it lacks (listed first: no call on a group it has)."""

    CATEGORIES = ("UserPoolResourceUpdate",)

    def execute(self, context: Context) -> dict[str, int]:
        groups = [items.Group.from_item(i) for i in self.table_hook.scan_kind(items.GROUP)]
        cognito = self.cognito_hook(context)
        pool_id = self.pool_id
        present: set[str] = set()
        if self.live:
            try:
                present = {g["GroupName"] for page in cognito.list_groups(pool_id) for g in page}
            except ClientError as err:
                raise CognitoCallError("ListGroups", err) from None

        def restore(group: items.Group) -> str:
            try:
                cognito.create_group(pool_id, **group.create_kwargs())
                return "created"
            except ClientError as err:
                code = error_code(err)
                if code != "GroupExistsException":
                    if code == "InvalidParameterException":
                        return f"refused:{code}"
                    raise CognitoCallError("CreateGroup", err) from None
            if self.live:
                return "already_present"  # a live pool's group is left as it is
            try:
                found = items.Group.from_cognito(cognito.get_group(pool_id, group.name))
                settings = lambda g: (g.description, g.precedence, g.role_arn)  # noqa: E731
                if settings(found) == settings(group):
                    return "already_present"
                cognito.update_group(pool_id, **group.create_kwargs())
                return "updated"
            except ClientError as err:
                raise CognitoCallError("GetGroup/UpdateGroup", err) from None

        try:
            with Workers(self.threads) as workers:
                for group in groups:
                    if group.name not in present:
                        workers.submit(restore, group)
        finally:
            self.release_budget()
        counts = {"groups": len(groups), **{f"groups_{k}": v for k, v in workers.counts.items()}}
        if present:
            counts["groups_already_present"] = counts.get("groups_already_present", 0) + sum(
                g.name in present for g in groups)
        self.log.info("Groups: %s", summary(counts))
        return counts


class PlanCsvImportOperator(_RestoreOperator):
    """Decide which users go into CSV files (and which are left out, why), and split them into files.

    Returns the files as bucket ranges (the CSV job task is mapped over them); the counts are
    its ``plan`` XCom.
    """

    def execute(self, context: Context) -> list[list[int]]:
        result = csv_file.plan(self.table_hook, self.csv_rules()).as_dict()
        self.log.info(
            "CSV import: %d of %d users in %d file(s); left out (restored through AdminCreateUser): %s",
            result["eligible"], result["users"], result["files"], summary(result["left_out"]) or "none",
        )
        context["ti"].xcom_push(key=PLAN_XCOM, value={k: v for k, v in result.items() if k != "parts"})
        return result["parts"]  # the CSV job task is mapped over them


class RestoreUsersOperator(_RestoreOperator):
    """Create users through ``AdminCreateUser`` (messages suppressed) and move them to ``RESET_REQUIRED``.

    ``admin_create``: every user of the scan segment. ``csv_import``: the users a CSV file cannot
    carry (never-verified contacts, unconfirmed users...), while the CSV jobs import the rest.
    Calls overlap on a thread pool under the run's budget.

    :param segment: this task's scan segment of the table (of the backup's ``segments``).
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "segment")
    CATEGORIES = ("UserCreation", "UserResourceUpdate")

    def __init__(self, *, segment: Any = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segment = segment

    def wanted(self, user: items.User, rules: csv_file.CsvRules | None, counts: Counter[str]) -> bool:
        """Whether this step creates `user` (counting why not)."""
        if rules is None:
            return True
        reason = rules.problem(user)
        if reason is None:
            counts["in_csv"] += 1
            return False
        counts[f"left_out_of_csv.{reason}"] += 1
        return True

    def should_list_target(self, cognito: Any) -> bool:
        """Find what an earlier run made (or a live pool holds), instead of trying to create it again."""
        if self.live:
            return True
        if self.strategy == "csv_import":
            return bool((self.target or {}).get("resume"))
        return bool(cognito.first_users(self.pool_id))

    def create_users(self, context: Context, rules: csv_file.CsvRules | None) -> dict[str, int]:
        t = self.target or {}
        cognito = self.cognito_hook(context)
        restorer = UserRestorer(
            cognito, self.pool_id, t.get("legacy_attribute") or None, int(t.get("password_length", 8)),
            since=self.since(context),
        )
        counts: Counter[str] = Counter()
        expected = int((self.backup or {}).get("estimated_users", 0)) // self.total_segments
        progress = Progress(self.log, f"users of segment {self.segment}", expected or None)
        try:
            with self.present_users(context) as present:
                listed = self.should_list_target(cognito)
                if listed:
                    self.list_target(cognito, present)

                def restore(user: items.User) -> str:
                    outcome = restorer.restore(user, present.target_user(user.pseudo_username) if listed else None)
                    progress.add()
                    return outcome

                with Workers(self.threads) as workers:
                    for item in self.table_hook.scan_kind(items.USER, int(self.segment), self.total_segments):
                        user = items.User.from_item(item)
                        counts["users"] += 1
                        if self.wanted(user, rules, counts):
                            workers.submit(restore, user)
                counts.update(workers.counts)
        finally:
            self.release_budget()
        self.log.info("%s; %s", progress.line(), summary(dict(counts)))
        return dict(counts)

    def execute(self, context: Context) -> dict[str, int]:
        return self.create_users(context, self.csv_rules() if self.strategy == "csv_import" else None)


class ReconcileCsvUsersOperator(RestoreUsersOperator):
    """After the CSV jobs: create one by one the users a job did not import (lines Cognito refused).

    Nothing to do, and no call made, when every job imported every line it was given or the
    strategy is ``admin_create``.

    :param csv_task_id: the CSV job task, whose results tell whether every file imported cleanly.
    """

    def __init__(self, *, csv_task_id: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.csv_task_id = csv_task_id

    def wanted(self, user: items.User, rules: csv_file.CsvRules | None, counts: Counter[str]) -> bool:
        # The users step created those a CSV file cannot carry; here: the ones the files carried.
        return rules is not None and rules.problem(user) is None

    def should_list_target(self, cognito: Any) -> bool:
        return True

    def execute(self, context: Context) -> dict[str, int]:
        if self.strategy != "csv_import":
            return {}
        jobs = as_list(context["ti"].xcom_pull(task_ids=self.csv_task_id))
        if all(bool((j or {}).get("clean")) for j in jobs):
            self.log.info("Every CSV import job imported every user it was given: nothing to reconcile")
            return {}
        return self.create_users(context, self.csv_rules())


class DisableUsersOperator(_RestoreOperator):
    """Disable the users that were disabled in the backed-up pool (``AdminDisableUser`` is idempotent);
    into a live pool, only those this run made."""

    CATEGORIES = ("UserResourceUpdate",)

    def execute(self, context: Context) -> dict[str, int]:
        cognito = self.cognito_hook(context)
        pool_id = self.pool_id

        def disable(user: items.User) -> str:
            try:
                cognito.admin_disable_user(pool_id, user.pseudo_username)
                return "disabled"
            except ClientError as err:
                if error_code(err) == "UserNotFoundException":
                    return "user_missing"
                raise CognitoCallError("AdminDisableUser", err) from None

        try:
            with self.present_users(context) as present, Workers(self.threads) as workers:
                if self.live:  # only users this run made: a live pool's own are left as they are
                    self.list_target(cognito, present)

                def note(item: dict[str, Any]) -> None:
                    if item.get("userEnabled", True):
                        return
                    user = items.User.from_item(item)
                    found = present.target_user(user.pseudo_username) if self.live else None
                    if self.live and (found is None or not found["ours"] or not found["enabled"]):
                        return
                    workers.submit(disable, user)

                scan_parallel(self.table_hook, items.USER, note)
        finally:
            self.release_budget()
        counts = {f"users_{k}": v for k, v in workers.counts.items()}
        self.log.info("Disabled users: %s", summary(counts) or "none")
        return counts


def restore_summary(verification: dict[str, int], steps: dict[str, dict[str, int]]) -> dict[str, int]:
    """Users restored by the run, already present in the target (left as they were), and skipped
    (Cognito refused to create them: the verification names them as missing)."""
    restored = verification.get("users_restored", verification.get("target_users", 0))
    refused = sum(n for step in ("users", "reconcile") for key, n in steps.get(step, {}).items()
                  if key.startswith("create_refused:"))
    return {"restored": restored, "already_present": verification.get("users_already_present", 0), "skipped": refused}


class VerifyImportOperator(_RestoreOperator):
    """Compare the target with the backup; write the report and the old-sub map; fail on any difference.

    Users are compared by pseudoUsername: attributes other than ``sub`` and the legacy sub
    attribute, enabled flag, status ``RESET_REQUIRED`` (or ``CONFIRMED`` for a user Cognito
    refused to reset for want of a verified email or phone number); the legacy sub attribute
    must hold the old sub; groups with their settings; memberships.

    :param report_s3_uri: where the report and map go (``s3://bucket/prefix``), if anywhere.
    :param step_task_ids: step name -> task id (or ``(task id, XCom key)``, or a list of task ids, summed)
        whose counts go into the report.
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "report_s3_uri")

    def __init__(self, *, report_s3_uri: str | None = None, step_task_ids: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_s3_uri = report_s3_uri
        self.step_task_ids = step_task_ids or {}

    def step_counts(self, context: Context) -> dict[str, dict[str, int]]:
        steps = {}
        for step, source in self.step_task_ids.items():
            key = "return_value"
            if isinstance(source, tuple):
                source, key = source
            task_ids = [source] if isinstance(source, str) else source
            total: dict[str, int] = {}
            for task_id in task_ids:
                for part in as_list(context["ti"].xcom_pull(task_ids=task_id, key=key)):
                    add_counts(total, part if isinstance(part, dict) else None)
            steps[step] = total
        return steps

    def execute(self, context: Context) -> dict[str, Any]:
        t = self.target or {}
        cognito = self.cognito_hook(context)
        uri = self.report_s3_uri if self.report_s3_uri not in (None, "", "None") else None
        try:
            with Comparison(t.get("legacy_attribute") or None, since=self.since(context)) as comparison:
                load(comparison, cognito, self.table_hook, self.pool_id, self.username_attributes, self.threads)
                self.release_budget()
                outcome = comparison.outcome()
                params = context["params"]
                steps = self.step_counts(context)
                report = {
                    "dag_id": context["dag"].dag_id,
                    "run_id": context["run_id"],
                    "backup_table": params.get("backup_table") or self.table_name,
                    "table_region": self.region_name,
                    "restore_point": params.get("restore_point") or None,
                    "read_from_table": self.table_name,
                    "target_mode": self.target_mode,
                    "exported_at": (self.backup or {}).get("exported_at"),
                    "source_user_pool_id": (self.backup or {}).get("source_user_pool_id"),
                    "target_user_pool_id": self.pool_id,
                    "target_region": self.cognito_region_name or self.region_name,
                    "target_pool_created": bool(t.get("created")),
                    "strategy": self.strategy,
                    "legacy_sub_attribute": t.get("legacy_attribute") or None,
                    "mfa_reenrolment_needed": bool((self.backup or {}).get("mfa_reenrolment_needed")),
                    "steps": steps,
                    "users": restore_summary(outcome.counts, steps),
                    "verification": {"ok": outcome.ok, **outcome.counts},
                    "differences": outcome.differences,
                    "differences_truncated": outcome.truncated,
                }
                if uri:
                    writer = ReportWriter(uri, context["run_id"], self.aws_conn_id)
                    map_uri, mapped = writer.write_mapping(comparison.mapping())
                    report["sub_map"] = {"uri": map_uri, "rows": mapped}
                    report_uri = writer.write_report(report)
                else:
                    mapped = sum(1 for _ in comparison.mapping())
                    report_uri = None
        except ClientError as err:
            raise CognitoCallError("verification", err) from None
        finally:
            self.release_budget()
        counts = {"ok": outcome.ok, **outcome.counts, "sub_map_rows": mapped}
        self.log.info("Verification: %s", summary(counts))
        if report_uri:
            self.log.info("Report: %s (old-sub to new-sub map beside it)", report_uri)
        elif mapped:
            self.log.info("No report_s3_uri: the old-sub to new-sub map (%d rows) was not kept", mapped)
        if not outcome.ok:
            differing = {k.removeprefix("diff_"): v for k, v in outcome.counts.items() if k.startswith("diff_") and v}
            raise AirflowFailException(
                f"the restored pool differs from the backup: {summary(differing)}; "
                + (f"the differences by user pseudo-identifier are in {report_uri}" if report_uri
                   else "set report_s3_uri to get them by user pseudo-identifier")
            )
        return counts


class DryRunImportOperator(CheckTargetOperator):
    """Everything the import would read and check, and what it would create; writes nothing anywhere."""

    def execute(self, context: Context) -> dict[str, Any]:
        check = self.check(context)
        cognito = self.cognito_hook(context, shared=False)
        table = self.table_hook
        counts: dict[str, Any] = {"target_pool_to_create": check.create, "resume": check.resume}
        try:
            if check.create:
                snapshot = table.get_snapshot() or {}
                custom = list(pool.custom_attributes(snapshot.get("SchemaAttributes", [])))
                legacy = self.legacy_sub_attribute or ""
                if legacy and legacy not in custom:
                    custom.append(legacy)
                header = csv_file.planned_header(custom)
                auto_verified = snapshot.get("AutoVerifiedAttributes") or []
                # One scan for both counts; batch sizes are appended (thread-safe) and summed.
                sizes: dict[str, list[int]] = {items.GROUP: [], items.MEMBERSHIP: []}
                scan_kinds(table, {kind: lambda b, found=found: found.append(len(b)) for kind, found in sizes.items()})
                counts.update(groups_to_create=sum(sizes[items.GROUP]),
                              memberships_to_add=sum(sizes[items.MEMBERSHIP]))
            else:
                info = target.pool_info(cognito, check.user_pool_id, self.legacy_sub_attribute, True)
                header, auto_verified, legacy = info["csv_header"], info["auto_verified"], info["legacy_attribute"]
                with Comparison(legacy or None, since=self.since(context)) as comparison:
                    load(comparison, cognito, table, check.user_pool_id, info["username_attributes"], self.threads)
                    outcome = comparison.outcome()
                counts.update(
                    users_to_create=outcome.counts.get("diff_user_missing", 0),
                    groups_to_create=outcome.counts.get("diff_group_missing", 0),
                    memberships_to_add=outcome.counts.get("diff_membership_missing", 0),
                )
        except ClientError as err:
            raise CognitoCallError("dry run", err) from None
        plan = csv_file.plan(table, csv_file.CsvRules(header, auto_verified, legacy or None))
        counts.update(users=plan.users, users_to_disable=plan.disabled)
        counts.setdefault("users_to_create", plan.users)
        if self.strategy == "csv_import":
            counts.update(csv_files=len(plan.parts), csv_users=plan.eligible,
                          **{f"left_out_of_csv.{k}": v for k, v in plan.left_out.items()})
        self.log.info("Dry run, nothing written. The import would: %s", summary(counts))
        return counts
