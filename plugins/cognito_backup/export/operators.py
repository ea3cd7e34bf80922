"""Operators of the export DAG. Each stays thin over the Cognito and backup-table hooks."""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cognito_backup import items, metrics, pool
from cognito_backup.base import CognitoBackupBaseOperator, run_started_ms, truthy
from cognito_backup.compat import AirflowFailException
from cognito_backup.config import backup_name
from cognito_backup.export.reconcile import Counts, Reconciler
from cognito_backup.hooks.backup_table import TableMissingError
from cognito_backup.progress import Progress
from cognito_backup.rate_limit import short_collections

if TYPE_CHECKING:
    from airflow.sdk import Context


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

    Returns the pool's username settings, which the listing tasks need.

    :param replica_regions: one replica per Region (global table 2019.11.21).
    :param manage_table: create and update the table; when false only check it.
    :param full_refresh: this run rewrites every item.
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "replica_regions", "full_refresh")

    def __init__(
        self, *, replica_regions: Sequence[str] = (), manage_table: bool = True, full_refresh: Any = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.replica_regions = replica_regions
        self.manage_table = manage_table
        self.full_refresh = full_refresh

    def execute(self, context: Context) -> dict[str, Any]:
        # The table may not exist yet, and no other task of the run runs: one call needs no shared budget.
        description = self.cognito_hook(context, shared=False).describe_user_pool(self.user_pool_id)
        info = self._preflight(description)
        self._ensure_table()
        converted = self._convert_legacy_items() if truthy(self.full_refresh) else 0
        written = self.table_hook.put_snapshot(pool.snapshot(description), run_started_ms(context))
        self.log.info("Pool snapshot %s", "written" if written else "unchanged")
        return {**info, "legacy_converted": converted, "snapshot_written": written}

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

    def _ensure_table(self) -> None:
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
            hook.wait_until_active()
            table = hook.describe()

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
                if region not in present:
                    self.log.info("Adding a replica in %s", region)
                    hook.add_replica(region)
                    changed = True
            # The description above still holds unless an index or replica was added since.
            self._wait_active({} if changed else table)

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

    def _wait_active(self, table: dict[str, Any], timeout: float = 1800) -> None:
        """Until table, replicas and indexes are ACTIVE; `table` is a current description, or empty."""
        deadline = time.monotonic() + timeout
        while True:
            table = table or self.table_hook.describe()
            pending = [r["RegionName"] for r in table.get("Replicas", []) if r.get("ReplicaStatus") != "ACTIVE"]
            pending += [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus") != "ACTIVE"]
            if table["TableStatus"] == "ACTIVE" and not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {self.table_name} not ACTIVE after {timeout:.0f} s: waiting on {pending}")
            time.sleep(2)
            table = {}


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

    def run_parallel(self, fn, scopes: Sequence[Any]) -> list[Any]:
        """`fn` over `scopes` on a thread pool; the first failure fails the task."""
        with short_collections(), ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(scopes)))) as executor:
            return list(executor.map(fn, scopes))


SPLIT_SHARD_USERS = 16 * 60


class ExportUserShardOperator(_ListingOperator):
    """Back up one shard of the pool's users: those whose `sub` starts with `shard`.

    A large shard is listed as 16 narrower `sub ^=` prefixes in parallel threads, so that one
    task alone can use the whole budget; a small one in one listing, which needs fewer calls.
    Users of the shard that are gone from the pool are deleted from the table only after all
    its listings completed.

    :param shard: a hex prefix of `sub` ("" for the whole pool).
    :param shards: how many shards the pool has (for progress estimates).
    """

    template_fields: Sequence[str] = (*_ListingOperator.template_fields, "shard")

    def __init__(self, *, shard: str, shards: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.shards = shards

    def execute(self, context: Context) -> dict[str, int]:
        cognito = self.cognito_hook(context)
        table = self.table_hook
        confirmed_at = run_started_ms(context)
        region = table.region_name
        expected = int((self.pool_info or {}).get("estimated_users", 0)) // max(self.shards, 1)
        progress = Progress(self.log, f"users of shard '{self.shard}'", expected or None)
        total = Counts()

        def export_prefix(prefix: str) -> tuple[Reconciler, list[str]]:
            rec = Reconciler(table.stored_user_digests(prefix), self.refresh)
            with table.writer() as batch:
                for page in cognito.list_users(self.user_pool_id, f'sub ^= "{prefix}"' if prefix else None):
                    for raw in page:
                        if raw.get("UserStatus") == "EXTERNAL_PROVIDER":
                            rec.skip()
                            continue
                        user = items.User.from_cognito(raw, self.username_attributes)
                        if rec.needs_write(user.sub, user.digest):
                            batch.put_item(Item=user.to_item(confirmed_at, region))
                    progress.add(len(page))
            return rec, rec.gone()

        # Splitting pays when each narrower listing still fills about a page.
        prefixes = [self.shard + h for h in items.HEX] if expected >= SPLIT_SHARD_USERS else [self.shard]
        try:
            results = self.run_parallel(export_prefix, prefixes)
        finally:
            self.release_budget()
        # Every listing of the shard completed: what the table holds beyond them is gone.
        gone = [sub for _, subs in results for sub in subs]
        with table.writer() as batch:
            for sub in gone:
                batch.delete_item(Key={"id": f"USER-{sub}", "type": items.USER})
        for rec, _ in results:
            total.add(rec.counts)
        total.deleted = len(gone)
        self.log.info("%s; %s", progress.line(), total)
        return {**total.as_dict("users"), **self.throttled_calls()}


class ExportGroupsOperator(_ListingOperator):
    """Back up the pool's groups; a group gone from the pool takes its membership items with it."""

    def execute(self, context: Context) -> dict[str, int]:
        cognito = self.cognito_hook(context)
        table = self.table_hook
        confirmed_at = run_started_ms(context)
        rec = Reconciler(table.stored_group_digests(), self.refresh)
        try:
            with table.writer() as batch:
                for page in cognito.list_groups(self.user_pool_id):
                    for raw in page:
                        group = items.Group.from_cognito(raw)
                        if rec.needs_write(group.name, group.digest):
                            batch.put_item(Item=group.to_item(confirmed_at, table.region_name))
        finally:
            self.release_budget()
        gone = rec.gone()
        memberships_deleted = 0
        for name in gone:
            memberships_deleted += table.delete_partition(items.Membership.partition(name))
            table.delete(f"GROUP-{name}", items.GROUP)
        rec.counts.deleted = len(gone)
        self.log.info("Groups: %s; %d memberships of removed groups deleted", rec.counts, memberships_deleted)
        return {**rec.counts.as_dict("groups"), "memberships_deleted": memberships_deleted, **self.throttled_calls()}


def chunk_of(group_name: str, chunks: int) -> int:
    """A group's membership chunk: stable across runs and processes."""
    return zlib.crc32(group_name.encode()) % chunks


class ExportMembershipChunkOperator(_ListingOperator):
    """Back up the memberships of one chunk of groups (groups as the table holds them now).

    :param chunk: this task's chunk number.
    :param chunks: how many chunks the groups are split into.
    """

    template_fields: Sequence[str] = (*_ListingOperator.template_fields, "chunk")

    def __init__(self, *, chunk: int, chunks: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk
        self.chunks = chunks

    def execute(self, context: Context) -> dict[str, int]:
        table = self.table_hook
        groups = [name for name, _ in table.stored_group_digests() if chunk_of(name, self.chunks) == int(self.chunk)]
        if not groups:
            return Counts().as_dict("memberships")
        cognito = self.cognito_hook(context)
        confirmed_at = run_started_ms(context)
        progress = Progress(self.log, f"groups of membership chunk {self.chunk}", len(groups))

        def export_group(name: str) -> tuple[str, Reconciler | None]:
            rec = Reconciler(table.stored_membership_digests(name), self.refresh)
            try:
                with table.writer() as batch:
                    for page in cognito.list_users_in_group(self.user_pool_id, name):
                        for raw in page:
                            if raw.get("UserStatus") == "EXTERNAL_PROVIDER":
                                rec.skip()
                                continue
                            user = items.User.from_cognito(raw, self.username_attributes)
                            member = items.Membership(name, user.sub, user.username, user.pseudo_username)
                            if rec.needs_write(member.sub, member.digest):
                                batch.put_item(Item=member.to_item(confirmed_at, table.region_name))
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                # Removed since the groups step: the next run removes it and its members.
                return name, None
            finally:
                progress.add()
            return name, rec

        try:
            results = self.run_parallel(export_group, groups)
        finally:
            self.release_budget()
        total = Counts()
        with table.writer() as batch:
            for name, rec in results:
                if rec is None:
                    continue
                for sub in rec.gone():
                    batch.delete_item(Key={"id": items.Membership.partition(name), "type": f"{items.MEMBERSHIP}-{sub}"})
                rec.counts.deleted = len(rec.gone())
                total.add(rec.counts)
        self.log.info("Memberships of %d groups: %s", len(groups), total)
        return {**total.as_dict("memberships"), **self.throttled_calls()}


class WriteManifestOperator(CognitoBackupBaseOperator):
    """Record the completed export (timestamp, counts, duration, snapshot reference) and publish its metrics.

    Runs only when every task of the run succeeded, so the manifest never claims a partial export.

    :param counts: the counting tasks' results (dicts, or lists of dicts from mapped tasks).
    """

    template_fields: Sequence[str] = (*CognitoBackupBaseOperator.template_fields, "pool_info", "counts")

    def __init__(self, *, counts: Sequence[Any], pool_info: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts = counts
        self.pool_info = pool_info

    def execute(self, context: Context) -> dict[str, Any]:
        totals: dict[str, int] = {"memberships_deleted": 0}
        for result in self.counts:
            for part in [result] if isinstance(result, dict) else list(result or []):
                for key, value in (part or {}).items():
                    totals[key] = totals.get(key, 0) + int(value)
        started = run_started_ms(context)
        snapshot_item = self.table_hook.get(items.SNAPSHOT_ID, items.SNAPSHOT) or {}
        manifest = items.Manifest(
            exported_at=started,
            counts=totals,
            duration_seconds=time.time() - started / 1000,
            snapshot_taken_at=int(snapshot_item.get("takenAt", 0)),
            mfa_reenrolment_needed=(self.pool_info or {}).get("mfa") == "OPTIONAL",
            user_pool_id=self.user_pool_id,
        )
        self.table_hook.put_manifest(manifest)
        metrics.publish_export(backup_name(context["dag"].dag_id), totals, manifest.duration_seconds,
                               aws_conn_id=self.aws_conn_id, region_name=self.region_name, caller=type(self).__name__)
        self.log.info("Export complete: %s", totals)
        return {"exported_at": started, **totals}
