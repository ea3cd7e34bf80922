"""Operators of the export DAG. Each stays thin over the Cognito and backup-table hooks."""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cognito_backup import items, metrics, pool
from cognito_backup.base import CognitoBackupBaseOperator, run_key, run_started_ms, truthy
from cognito_backup.compat import AirflowFailException
from cognito_backup.config import backup_name
from cognito_backup.export import guard, member_sets, plan
from cognito_backup.export.deletions import DeletionsHeldBack, held_back_message, summed, sweep
from cognito_backup.export.reconcile import Counts, reconciling
from cognito_backup.hooks.backup_table import DIGEST_READERS, BackupTableHook, TableMissingError
from cognito_backup.progress import Progress
from cognito_backup.rate_limit import short_collections
from cognito_backup.triggers.table import TableActiveTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

POOL_XCOM = "pool_info"
COUNTS_XCOM = "counts"


class PrepareExportOperator(CognitoBackupBaseOperator):
    """Steps 1 to 3 of an export: preflight, table, pool snapshot.

    One task rather than three, so that the listing tasks start two task hand-overs sooner:

    1. Describe the pool and refuse one whose users could not be restored faithfully, before
       anything is written.
    2. Create the backup table with its replicas, or check the one that exists. On a full
       refresh, also convert items of the retired solution's format (`USER-<uuid>` types) to
       ours: each is written in the new form first, then its old form is deleted, so nothing
       is ever missing. Converted items carry no digest, so the run's reconciling rewrites or
       removes them like any other.
    3. Store the pool settings a restore needs to recreate an equivalent pool (written only
       when they changed).

    Then splits the user listing into tasks by the pool's estimated size (`export/plan.py`).

    Returns the user tasks' `sub` prefixes (the users task is mapped over them); the pool's
    username settings and size, which the listing tasks need, are its ``pool_info`` XCom.

    :param replica_regions: one replica per Region (global table 2019.11.21).
    :param manage_table: create and update the table; when false only check it.
    :param full_refresh: this run rewrites every item.
    :param user_shards: a configured number of user tasks (None: from the pool's size).
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "replica_regions", "full_refresh")

    def __init__(
        self, *, replica_regions: Sequence[str] = (), manage_table: bool = True, full_refresh: Any = False,
        user_shards: int | None = None, waiter_delay: int = 15, waiter_max_attempts: int = 960, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.replica_regions = replica_regions
        self.manage_table = manage_table
        self.full_refresh = full_refresh
        self.user_shards = user_shards
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def execute(self, context: Context) -> list[list[str]]:
        return self._prepare(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[list[str]]:
        """Resumed once the table was ACTIVE: go on where the wait began (replicas may follow a new table)."""
        if (event or {}).get("status") != "success":
            raise RuntimeError((event or {}).get("message") or f"table {self.table_name} did not become ACTIVE")
        return self._prepare(context)

    def _prepare(self, context: Context) -> list[list[str]]:
        # The table may not exist yet, and no other task of the run runs: one call needs no shared budget.
        description = self.cognito_hook(context, shared=False).describe_user_pool(self.user_pool_id)
        info = self._preflight(description)
        table = self._ensure_table()
        pending = not_active(table)
        if pending:
            # Minutes for a new table, up to hours for a replica of a large one: in the triggerer.
            self.log.info("Waiting for %s of table %s to be ACTIVE", ", ".join(pending), self.table_name)
            self.defer(
                trigger=TableActiveTrigger(table_name=self.table_name, waiter_delay=self.waiter_delay,
                                           waiter_max_attempts=self.waiter_max_attempts,
                                           aws_conn_id=self.aws_conn_id, region_name=self.region_name),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 600),
            )
        if self.manage_table:
            # Point-in-time recovery is a setting of each replica: a recovery in a backup Region
            # restores from that Region's own history.
            for region in sorted({r["RegionName"] for r in table.get("Replicas", [])}):
                BackupTableHook(self.table_name, aws_conn_id=self.aws_conn_id, region_name=region,
                                caller=type(self).__name__).enable_point_in_time_recovery()
        converted = self._convert_legacy_items() if truthy(self.full_refresh) else 0
        written = self.table_hook.put_snapshot(pool.snapshot(description), run_started_ms(context))
        self.log.info("Pool snapshot %s", "written" if written else "unchanged")
        context["ti"].xcom_push(key=POOL_XCOM, value={**info, "legacy_converted": converted, "snapshot_written": written})
        tasks = plan.user_tasks(info["estimated_users"], self.user_shards)
        self.log.info("Users listed by %d task(s), %d prefix(es) in all", len(tasks), sum(map(len, tasks)))
        # Mapped tasks expand over a task's return value only: the user tasks' prefixes are it.
        return tasks

    def _preflight(self, description: dict[str, Any]) -> dict[str, Any]:
        problems = pool.preflight_problems(description)
        if problems:
            raise AirflowFailException(f"user pool {self.user_pool_id} cannot be exported: " + "; ".join(problems))
        info = {
            "username_attributes": description.get("UsernameAttributes") or [],
            "mfa": description.get("MfaConfiguration", "OFF"),
            "estimated_users": int(description.get("EstimatedNumberOfUsers", 0)),
        }
        if info["mfa"] == "OPTIONAL":
            self.log.warning("MFA is optional in this pool: after a restore, users must enrol second factors again")
        self.log.info("Pool %s can be exported: about %d users", self.user_pool_id, info["estimated_users"])
        return info

    def _ensure_table(self) -> dict[str, Any]:
        """Create or check the table, adding what it lacks; its description after that."""
        hook = self.table_hook
        try:
            table = hook.describe()
        except TableMissingError:
            if not self.manage_table:
                raise AirflowFailException(
                    f"backup table {self.table_name} does not exist in {self.region_name} and manage_table is false"
                ) from None
            self.log.info("Creating backup table %s", self.table_name)
            hook.create()
            table = hook.describe()  # while CREATING, replicas wait: they are added once it is ACTIVE

        changed = False
        keys = {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]}
        if keys != {("id", "HASH"), ("type", "RANGE")}:
            raise AirflowFailException(f"table {self.table_name} does not have the backup key schema (id, type)")
        indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        if items.SHARD_INDEX not in indexes:
            if not self.manage_table:
                raise AirflowFailException(
                    f"table {self.table_name} lacks the {items.SHARD_INDEX} index; add it (see include/cloudformation)"
                )
            self.log.info("Adding the %s index", items.SHARD_INDEX)
            hook.add_shard_index()
            changed = True

        if self.manage_table:
            hook.enable_point_in_time_recovery()
            hook.enable_ttl()
            present = {r["RegionName"] for r in table.get("Replicas", [])}
            for region in self.replica_regions:
                if region not in present and not not_active(table):
                    self.log.info("Adding a replica in %s", region)
                    hook.add_replica(region)
                    changed = True
        # The description above still holds unless an index or replica was added since.
        return hook.describe() if changed else table

    def _convert_legacy_items(self) -> int:
        table = self.table_hook
        converted = 0
        for item in table.legacy_items():
            kind = items.kind_of(item)
            confirmed = int(item.get("lastConfirmedInUserPool", 0))
            if kind == items.USER:
                new = items.User.from_item(item).to_item(confirmed, table.region_name)
            elif kind == items.GROUP:
                new = items.Group.from_item(item).to_item(confirmed, table.region_name)
            elif kind == items.MANIFEST and items.is_legacy(item):
                table.delete(item["id"], item["type"])  # superseded by this run's manifest
                continue
            else:
                continue
            new["digest"] = ""
            table.put(new)
            if item["type"] != new["type"]:
                table.delete(item["id"], item["type"])
            converted += 1
        self.log.info("Converted %d items of the retired format", converted)
        return converted


class _ListingOperator(CognitoBackupBaseOperator):
    """Shared by the reconciling operators: threads, the pool's username settings, the run's clock.

    :param pool_info: the prepare task's result (username attributes, estimated users).
    :param full_refresh: rewrite every item, changed or not.
    :param concurrency: threads listing at once (calls still share the run's budget).
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "pool_info", "full_refresh")

    def __init__(
        self, *, pool_info: Any = None, full_refresh: Any = False, concurrency: int = 8, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.pool_info = pool_info
        self.full_refresh = full_refresh
        self.concurrency = concurrency

    @property
    def username_attributes(self) -> list[str]:
        return list((self.pool_info or {}).get("username_attributes") or [])

    @property
    def refresh(self) -> bool:
        return truthy(self.full_refresh)

    def stage(self, context: Context, scope: str, keys: list[tuple[str, str]], partitions: Sequence[str] = ()) -> None:
        """Keep what this task found gone for the run's deletion guard (in the table, not in XCom)."""
        written = self.table_hook.stage_deletions(
            run_key(context), scope, keys, list(partitions), retried=context["ti"].try_number > 1
        )
        if written:
            self.log.info("Staged %d gone items and %d partitions for the deletion guard", len(keys), len(partitions))

    def threads(self, scopes: Sequence[Any]) -> int:
        """The threads `run_parallel` lists `scopes` with."""
        return max(1, min(self.concurrency, len(scopes)))

    def run_parallel(self, fn, scopes: Sequence[Any]) -> list[Any]:
        """`fn(scope, reader)` over `scopes` on a thread pool; the first failure fails the task.

        `reader` is an executor for the listings' digest reads (`reconciling`), a thread for each
        listing thread: made once, not once a scope.
        """
        threads = self.threads(scopes)
        with short_collections(), ThreadPoolExecutor(max_workers=threads) as reader, \
                ThreadPoolExecutor(max_workers=threads) as executor:
            return list(executor.map(lambda scope: fn(scope, reader), scopes))


class ExportUserShardOperator(_ListingOperator):
    """Back up one share of the pool's users: those whose `sub` starts with one of `prefixes`.

    The prefixes (from `export/plan.py`) are listed in parallel threads, so that one task alone
    can use the whole budget; a prefix expected to hold many full pages is listed as 16 narrower
    ones. Users of the share that are gone from the pool are staged for the run's deletion
    guard only after all its listings completed.

    :param prefixes: hex prefixes of `sub` (`[""]` for the whole pool).
    """

    template_fields: Sequence[str] = (*_ListingOperator.template_fields, "prefixes")

    def __init__(self, *, prefixes: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefixes = prefixes

    def execute(self, context: Context) -> dict[str, int]:
        cognito = self.cognito_hook(context)
        table = self.table_hook
        confirmed_at = run_started_ms(context)
        region = table.region_name
        estimated = int((self.pool_info or {}).get("estimated_users", 0))
        per_prefix = {p: estimated / 16 ** len(p) for p in self.prefixes}
        expected = int(sum(per_prefix.values()))
        progress = Progress(self.log, f"users of {len(self.prefixes)} prefix(es) from '{self.prefixes[0]}'",
                            expected or None)
        total = Counts()

        parts = [part for prefix in self.prefixes for part in plan.split(prefix, per_prefix[prefix])]
        # The task's digest reads at once: each listing's share of them.
        readers = max(1, DIGEST_READERS // self.threads(parts))

        def export_prefix(prefix: str, reader: Executor) -> tuple[Counts, list[str]]:
            rec, pages = reconciling(
                lambda: table.stored_user_digests(prefix, readers),
                cognito.list_users(self.user_pool_id, f'sub ^= "{prefix}"' if prefix else None), self.refresh,
                reader=reader,
            )
            with table.writer(unique_keys=True) as batch:
                for page in pages:
                    for raw in page:
                        if raw.get("UserStatus") == "EXTERNAL_PROVIDER":
                            rec.skip()
                            continue
                        user = items.User.from_cognito(raw, self.username_attributes)
                        if rec.needs_write(user.sub, user.digest):
                            batch.put_item(Item=user.to_item(confirmed_at, region))
                    progress.add(len(page))
            # The counts and what is gone, not the part's digests: the task keeps them all to the end.
            return rec.counts, rec.gone()

        try:
            results = self.run_parallel(export_prefix, parts)
        finally:
            self.release_budget()
        # Every listing of the share completed: what the table holds beyond them is gone. It is
        # staged for the run's deletion guard, which decides once every task has listed.
        gone = [sub for _, subs in results for sub in subs]
        self.stage(context, f"users/{self.prefixes[0]}+{len(self.prefixes)}",
                   [(f"USER-{sub}", items.USER) for sub in gone])
        for counts, _ in results:
            total.add(counts)
        self.log.info("%s in %d listings; %s", progress.line(), len(parts), total)
        return {**total.as_dict("users"), **self.throttled_calls()}


def not_active(table: dict[str, Any]) -> list[str]:
    """What of a table description is not ACTIVE yet: the table, its replicas, its indexes."""
    pending = [] if table.get("TableStatus") == "ACTIVE" else ["the table"]
    pending += [f"replica {r['RegionName']}" for r in table.get("Replicas", []) if r.get("ReplicaStatus") != "ACTIVE"]
    pending += [f"index {i['IndexName']}" for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus") != "ACTIVE"]
    return pending


def chunk_of(group_name: str, chunks: int) -> int:
    """A group's membership chunk: stable across runs and processes."""
    return zlib.crc32(group_name.encode()) % chunks


class _MembershipsOperator(_ListingOperator):
    """Lists groups' members and reconciles their membership items."""

    def export_memberships(self, context: Context, cognito: Any, groups: list[str], scope: str) -> dict[str, int]:
        """Back up the memberships of `groups`; stage those gone for the deletion guard.

        A group whose listing matches its stored member set is unchanged without a table read
        (`export/member_sets.py`); the others are reconciled item by item.
        """
        table = self.table_hook
        confirmed_at = run_started_ms(context)
        progress = Progress(self.log, f"groups' members ({scope})", len(groups))
        stored_sets = table.stored_member_sets(groups)
        new_sets: list[tuple[str, str]] = []
        matched: list[str] = []

        def parsed(page: list[dict[str, Any]], name: str) -> list[items.Membership | None]:
            return [None if raw.get("UserStatus") == "EXTERNAL_PROVIDER"
                    else items.Membership.from_cognito(name, raw, self.username_attributes) for raw in page]

        def export_group(name: str, reader: Executor) -> tuple[Counts, list[str]] | None:
            try:
                pages = (parsed(page, name) for page in cognito.list_users_in_group(self.user_pool_id, name))
                first = list(itertools.islice(pages, member_sets.MAX_PAGES + 1))
                listed = member_sets.listed_digest(first)
                stored_set = stored_sets.get(name)
                if (stored_set is not None and listed == stored_set and not self.refresh
                        and not member_sets.full_check_due(name, confirmed_at)):
                    matched.append(name)
                    return member_sets.unchanged(first), []
                rec, pages = reconciling(lambda: table.stored_membership_digests(name),
                                         itertools.chain(first, pages), self.refresh, reader=reader)
                with table.writer(unique_keys=True) as batch:
                    for page in pages:
                        for member in page:
                            if member is None:
                                rec.skip()
                            elif rec.needs_write(member.sub, member.digest):
                                if stored_set is not None:  # before any of the group's items changes
                                    table.forget_member_set(name)
                                    stored_set = None
                                batch.put_item(Item=member.to_item(confirmed_at, table.region_name))
                gone = rec.gone()
                # The table now holds exactly the listing (a set left in place still holds, as
                # nothing of the group was written: gone members are removed, if ever, by the
                # deletion guard's sweep, which forgets the set first).
                if listed is not None and not gone and listed != stored_set:
                    new_sets.append((name, listed))
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                # Removed since the groups were listed: the next run removes it and its members.
                return None
            finally:
                progress.add()
            return rec.counts, gone

        results = dict(zip(groups, self.run_parallel(export_group, groups))) if groups else {}
        table.put_member_sets(new_sets)
        total = Counts()
        gone_keys = []
        for name, result in results.items():
            if result is None:
                continue
            counts, gone = result
            gone_keys += [(items.Membership.partition(name), f"{items.MEMBERSHIP}-{sub}") for sub in gone]
            total.add(counts)
        self.stage(context, f"memberships/{scope}", gone_keys)
        self.log.info("Memberships of %d groups, %d of them unchanged by their member sets: %s",
                      len(groups), len(matched), total)
        return total.as_dict("memberships")


class ExportGroupsOperator(_MembershipsOperator):
    """Back up the pool's groups; a group gone from the pool takes its membership items with it.

    Then decides how the memberships are listed (`export/plan.py`): with few groups, here, one
    group after another in parallel threads; else by mapped membership tasks.

    Returns the membership tasks' chunks (``[[chunk, chunks], ...]``, empty when done here); the
    counts are its ``counts`` XCom.

    :param membership_chunks: a configured number of membership tasks (None: from the group count).
    """

    def __init__(self, *, membership_chunks: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.membership_chunks = membership_chunks

    def execute(self, context: Context) -> list[list[int]]:
        cognito = self.cognito_hook(context)
        table = self.table_hook
        confirmed_at = run_started_ms(context)
        listed: list[str] = []
        try:
            rec, pages = reconciling(table.stored_group_digests, cognito.list_groups(self.user_pool_id), self.refresh)
            with table.writer(unique_keys=True) as batch:
                for page in pages:
                    for raw in page:
                        group = items.Group.from_cognito(raw)
                        listed.append(group.name)
                        if rec.needs_write(group.name, group.digest):
                            batch.put_item(Item=group.to_item(confirmed_at, table.region_name))
            # A group gone from the pool takes its membership items with it (counted for the guard).
            gone = rec.gone()
            partitions = [items.Membership.partition(name) for name in gone]
            members = sum(table.count_partition(p, items.MEMBERSHIP_PREFIX) for p in partitions)
            self.stage(context, "groups", [(f"GROUP-{name}", items.GROUP) for name in gone], partitions)
            self.log.info("Groups: %s; %d memberships of removed groups", rec.counts, members)
            counts = {**rec.counts.as_dict("groups"), "memberships_gone": members, "memberships_stored": members}
            chunks = plan.membership_tasks(len(listed), self.membership_chunks)
            if not chunks:
                for key, value in self.export_memberships(context, cognito, listed, "all").items():
                    counts[key] = counts.get(key, 0) + value
        finally:
            self.release_budget()
        counts.update(self.throttled_calls())
        context["ti"].xcom_push(key=COUNTS_XCOM, value=counts)
        # Mapped tasks expand over a task's return value only: the chunks are it.
        return [[chunk, chunks] for chunk in range(chunks)]


class ExportMembershipChunkOperator(_MembershipsOperator):
    """Back up the memberships of one chunk of groups (groups as the table holds them now).

    :param chunk: ``[this task's chunk, how many chunks the groups are split into]``.
    """

    template_fields: Sequence[str] = (*_ListingOperator.template_fields, "chunk")

    def __init__(self, *, chunk: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk

    def execute(self, context: Context) -> dict[str, int]:
        number, chunks = (int(n) for n in self.chunk)
        groups = [name for name, _ in self.table_hook.stored_group_digests() if chunk_of(name, chunks) == number]
        if not groups:
            return Counts().as_dict("memberships")
        try:
            counts = self.export_memberships(context, self.cognito_hook(context), groups, str(number))
        finally:
            self.release_budget()
        return {**counts, **self.throttled_calls()}


class FinishExportOperator(CognitoBackupBaseOperator):
    """The last two steps: the deletion guard removes what the run staged as gone, or holds it all
    back; then the manifest records the completed export (timestamp, counts, duration, snapshot
    reference, deletions held back), and its metrics are published.

    Runs only when every listing task succeeded, so nothing is deleted on a partial listing and
    the manifest never claims a partial export. When the guard held deletions back, the manifest
    records them and the run then fails with the counts and the way out (`DeletionsHeldBack`),
    so that someone is told.

    :param counts: the listing tasks' results (dicts, or lists of dicts from mapped tasks).
    :param max_delete_fraction: the largest share of users, groups or memberships one run removes.
    :param delete_floor: deletions always allowed, whatever the share.
    :param allow_mass_delete: remove what is staged even over the limits (the run's param).
    """

    template_fields: Sequence[str] = (
        *CognitoBackupBaseOperator.template_fields, "pool_info", "counts", "allow_mass_delete"
    )

    def __init__(self, *, counts: Sequence[Any], pool_info: Any = None,
                 max_delete_fraction: float = guard.DEFAULT_MAX_FRACTION, delete_floor: int = guard.DEFAULT_FLOOR,
                 allow_mass_delete: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts = counts
        self.pool_info = pool_info
        self.limits = guard.Limits(max_delete_fraction, delete_floor)
        self.allow_mass_delete = allow_mass_delete

    def execute(self, context: Context) -> dict[str, Any]:
        totals = summed(self.counts)
        decision = guard.decide(totals, self.limits, truthy(self.allow_mass_delete))
        totals.update(sweep(self.table_hook, run_key(context), decision, self.limits, self.log))
        started = run_started_ms(context)
        snapshot_item = self.table_hook.get(items.SNAPSHOT_ID, items.SNAPSHOT) or {}
        held_back = decision.held_back
        manifest = items.Manifest(
            exported_at=started,
            counts=totals,
            duration_seconds=time.time() - started / 1000,
            snapshot_taken_at=int(snapshot_item.get("takenAt", 0)),
            mfa_reenrolment_needed=(self.pool_info or {}).get("mfa") == "OPTIONAL",
            user_pool_id=self.user_pool_id,
            deletions_held_back=held_back if any(held_back.values()) else {},
        )
        self.table_hook.put_manifest(manifest)
        metrics.publish_export(backup_name(context["dag"].dag_id), totals, manifest.duration_seconds,
                               aws_conn_id=self.aws_conn_id, region_name=self.region_name, caller=type(self).__name__)
        self.log.info("Export complete: %s", totals)
        if manifest.deletions_held_back:
            raise DeletionsHeldBack(held_back_message(context["dag"].dag_id, decision, self.limits))
        return {"exported_at": started, **totals}
