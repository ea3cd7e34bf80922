"""The memberships steps of the import: ``AdminAddUserToGroup`` for the backed-up memberships of one
scan segment, in two steps by who the member is, so that memberships need not wait for every user:

- ``memberships.after_csv`` (`AddImportedMembershipsOperator`): members the CSV import jobs
  imported, as soon as the jobs are done (and the lines they refused re-created), while
  ``users.create`` still creates the users a CSV file cannot carry;
- ``memberships.after_create`` (`AddCreatedMembershipsOperator`): members ``users.create`` created
  one by one (with the ``admin_create`` strategy, everyone), after them.

Who is which is the rule the CSV plan and the users step follow (`CsvRules.problem`), read off
one scan of the backup's users into a temporary SQLite file: no user data in XCom, no pool in
memory. ``AdminAddUserToGroup`` is idempotent, so either step can be run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from cognito_backup import items
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.progress import Progress
from cognito_backup.restore import csv_file
from cognito_backup.restore.admin_users import CognitoCallError, error_code
from cognito_backup.restore.operators import _RestoreOperator
from cognito_backup.restore.parallel import Workers, scan_parallel
from cognito_backup.restore.report import summary
from cognito_backup.restore.scratch import ScratchDb

if TYPE_CHECKING:
    from airflow.sdk import Context


class LeftOutOfCsv(ScratchDb):
    """The subs of the backed-up users a CSV file cannot carry (created one by one instead)."""

    def __init__(self, table: BackupTableHook, rules: csv_file.CsvRules, directory: str | None = None) -> None:
        super().__init__("CREATE TABLE subs (sub TEXT PRIMARY KEY);", "cognito-left-out-", directory)
        self.users = self.left_out = 0

        def note(batch: list[dict[str, Any]]) -> None:
            rows = [(u.sub,) for u in map(items.User.from_item, batch) if rules.problem(u) is not None]
            with self.lock:
                self.db.executemany("INSERT OR IGNORE INTO subs VALUES (?)", rows)
                self.users += len(batch)
                self.left_out += len(rows)

        scan_parallel(table, items.USER, note, batch_size=500)

    def __contains__(self, sub: object) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM subs WHERE sub = ?", (sub,)).fetchone() is not None


class RestoreMembershipsOperator(_RestoreOperator):
    """Add the memberships of one scan segment whose members this step restores (see the subclasses).

    :param segment: this task's scan segment of the table (of the backup's ``segments``).
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "segment")
    CATEGORIES = ("UserResourceUpdate",)
    # Whose memberships: of the users the CSV jobs imported (True), or of those created one by one.
    IMPORTED: ClassVar[bool]

    def __init__(self, *, segment: Any = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segment = segment

    def target_members(self, cognito: Any, groups: set[str]) -> set[tuple[str, str]]:
        """(group, pseudoUsername) of the target's members of `groups` (a group it lacks has none)."""
        present: set[tuple[str, str]] = set()

        def members(group: str) -> list[tuple[str, str]]:
            try:
                return [(group, items.User.from_cognito(raw, self.username_attributes).pseudo_username)
                        for page in cognito.list_users_in_group(self.pool_id, group) for raw in page]
            except ClientError as err:
                if error_code(err) == "ResourceNotFoundException":
                    return []
                raise CognitoCallError("ListUsersInGroup", err) from None

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for found in pool.map(members, sorted(groups)):
                present.update(found)
        return present

    def memberships(self, stack: ExitStack) -> tuple[Iterable[items.Membership], float]:
        """This step's memberships of the segment, and about which part of them they are."""
        found: Iterable[items.Membership] = map(
            items.Membership.from_item, self.table_hook.scan_kind(items.MEMBERSHIP, int(self.segment), self.total_segments)
        )
        if self.strategy != "csv_import":
            return found, 1.0  # every user was created one by one
        left_out = stack.enter_context(LeftOutOfCsv(self.table_hook, self.csv_rules()))
        part = left_out.left_out / max(left_out.users, 1)
        return (m for m in found if (m.sub in left_out) != self.IMPORTED), (1 - part if self.IMPORTED else part)

    def execute(self, context: Context) -> dict[str, int]:
        if self.IMPORTED and self.strategy != "csv_import":
            self.log.info("Strategy %s imports no user: every membership is added after its users are created",
                          self.strategy)
            return {}
        cognito = self.cognito_hook(context)
        pool_id = self.pool_id

        def add(member: items.Membership) -> str:
            try:
                cognito.admin_add_user_to_group(pool_id, member.pseudo_username, member.group)
                return "added"
            except ClientError as err:
                code = error_code(err)
                if code == "UserNotFoundException":
                    return "user_missing"
                if code == "ResourceNotFoundException":
                    return "group_missing"
                raise CognitoCallError("AdminAddUserToGroup", err) from None
            finally:
                progress.add()

        try:
            with ExitStack() as stack:
                found, part = self.memberships(stack)
                expected = int(int((self.backup or {}).get("estimated_memberships", 0)) * part) // self.total_segments
                progress = Progress(self.log, f"memberships of segment {self.segment}", expected or None)
                present: set[tuple[str, str]] = set()
                if self.live:  # only what the live pool lacks: its members of these groups, listed first
                    found = list(found)
                    present = self.target_members(cognito, {m.group for m in found})
                already = 0
                with Workers(self.threads) as workers:
                    for member in found:
                        if (member.group, member.pseudo_username) in present:
                            already += 1
                            continue
                        workers.submit(add, member)
        finally:
            self.release_budget()
        counts = {f"memberships_{k}": v for k, v in workers.counts.items()}
        if already:
            counts["memberships_already_present"] = already
        self.log.info("%s; %s", progress.line(), summary(counts))
        return counts


class AddImportedMembershipsOperator(RestoreMembershipsOperator):
    """Add the memberships of the users the CSV import jobs imported (nothing with ``admin_create``)."""

    IMPORTED = True


class AddCreatedMembershipsOperator(RestoreMembershipsOperator):
    """Add the memberships of the users created one by one: those a CSV file cannot carry, or
    everyone with ``admin_create``."""

    IMPORTED = False
