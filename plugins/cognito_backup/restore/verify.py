"""Compare a restored pool with its backup without holding either in memory.

Both sides are streamed into a temporary SQLite file and joined in SQL: users by
pseudoUsername (what a user signs in with: the only key both sides share, since every
restored user has a new sub), groups by name, memberships by (group, pseudoUsername).
Differences are reported by pseudo-identifier (`user_ref`) and attribute *names*, never values.

Into a new pool, the target must equal the backup. Into a live pool (`since`: the run's
start), only what the run made is compared whole; every backed-up user, group and membership
must be there, and whatever else the pool holds is left out of the comparison.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cognito_backup import items
from cognito_backup.rate_limit import short_collections
from cognito_backup.restore.admin_users import NOT_WRITABLE, has_verified_contact, legacy_value
from cognito_backup.restore.live_pool import epoch, made_by_this_run
from cognito_backup.restore.parallel import list_pool_users, scan_kinds
from cognito_backup.restore.scratch import ScratchDb

MAX_LISTED_DIFFERENCES = 100_000

SCHEMA = """
CREATE TABLE backup_users (pseudo TEXT PRIMARY KEY, sub TEXT, attrs TEXT, enabled INT, verified INT, legacy TEXT);
CREATE TABLE target_users (pseudo TEXT PRIMARY KEY, sub TEXT, attrs TEXT, enabled INT, status TEXT, legacy TEXT,
                           created REAL, ours INT);
CREATE TABLE backup_groups (name TEXT PRIMARY KEY, settings TEXT, ours INT);
CREATE TABLE target_groups (name TEXT PRIMARY KEY, settings TEXT, ours INT);
CREATE TABLE backup_members (grp TEXT, pseudo TEXT, PRIMARY KEY (grp, pseudo));
CREATE TABLE target_members (grp TEXT, pseudo TEXT, PRIMARY KEY (grp, pseudo));
CREATE TABLE duplicates (side TEXT, kind TEXT, n INT);
"""


def user_ref(sub: str, prefix: str = "u") -> str:
    """A user's pseudo-identifier in reports: stable, and no user data."""
    return f"{prefix}-{hashlib.sha256(sub.encode()).hexdigest()[:16]}"


def _attrs(pairs: Any, legacy_attribute: str | None) -> str:
    kept = sorted((n, v) for n, v in pairs if n not in NOT_WRITABLE and n != legacy_attribute)
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def _settings(group: items.Group) -> str:
    return json.dumps([group.description, group.precedence, group.role_arn], ensure_ascii=False)


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not any(v for k, v in self.counts.items() if k.startswith("diff_"))


class Comparison(ScratchDb):
    """One target pool against one backup.

    :param legacy_attribute: the target's legacy sub attribute, when it has one: each user must
        carry its old sub there, and the attribute is left out of the attribute comparison.
    :param since: a restore into a live pool: when its run started (epoch seconds). None: the
        target is the restore's own.
    """

    def __init__(self, legacy_attribute: str | None = None, directory: str | None = None,
                 since: float | None = None) -> None:
        super().__init__(SCHEMA, "cognito-verify-", directory)
        self.legacy_attribute = legacy_attribute or None
        self.since = since

    def _insert(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        marks = ",".join("?" * len(rows[0]))
        with self.lock:
            before = self.db.total_changes
            self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
            ignored = len(rows) - (self.db.total_changes - before)
            if ignored:
                side, kind = table.split("_")
                self.db.execute("INSERT INTO duplicates VALUES (?, ?, ?)", (side, kind, ignored))

    # Loading both sides (batches, from any thread)

    def add_backup_users(self, users: list[items.User]) -> None:
        self._insert("backup_users", [
            (u.pseudo_username, u.sub, _attrs(u.attributes, self.legacy_attribute), int(u.enabled),
             int(has_verified_contact(u.attribute_map)),
             legacy_value(u, self.legacy_attribute) if self.legacy_attribute else None)
            for u in users
        ])

    def add_target_users(self, users: list[dict[str, Any]], username_attributes: list[str]) -> None:
        rows = []
        for raw in users:
            if raw.get("UserStatus") == "EXTERNAL_PROVIDER":
                continue  # federated users are never backed up nor restored
            user = items.User.from_cognito(raw, username_attributes)
            legacy = user.attribute_map.get(self.legacy_attribute) if self.legacy_attribute else None
            created = epoch(raw.get("UserCreateDate"))
            rows.append((user.pseudo_username, user.sub, _attrs(user.attributes, self.legacy_attribute),
                         int(user.enabled), user.status, legacy, created,
                         int(made_by_this_run(created, user.status, legacy, self.since))))
        self._insert("target_users", rows)

    def add_groups(self, side: str, groups: list[items.Group], created: dict[str, float] | None = None) -> None:
        """Groups of one side; `created`: the target's creation times (groups made by a live-pool run count as its own)."""
        own = lambda g: self.since is None or (created or {}).get(g.name, 0) >= self.since  # noqa: E731
        self._insert(f"{side}_groups", [(g.name, _settings(g), int(own(g))) for g in groups])

    def add_members(self, side: str, pairs: list[tuple[str, str]]) -> None:
        self._insert(f"{side}_members", list(pairs))

    # Results

    def mapping(self) -> Iterator[tuple[str, str, str]]:
        """(user_ref, old sub, new sub) of every restored user."""
        rows = self.db.execute(
            "SELECT b.sub, t.sub FROM backup_users b JOIN target_users t ON t.pseudo = b.pseudo "
            "WHERE t.ours = 1 ORDER BY b.sub"
        )
        for old, new in rows:
            yield user_ref(old), old, new

    def target_user(self, pseudo: str) -> dict[str, Any] | None:
        """A listed target user by pseudoUsername: status, enabled flag, and whether this run made it."""
        with self.lock:
            row = self.db.execute("SELECT status, enabled, ours FROM target_users WHERE pseudo = ?", (pseudo,)).fetchone()
        return None if row is None else {"status": row[0], "enabled": bool(row[1]), "ours": bool(row[2])}

    def unexpected_counts(self) -> tuple[int, int, int]:
        """(target users not in the backup, target groups not in the backup, target users)."""
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return (
            q("SELECT COUNT(*) FROM target_users t LEFT JOIN backup_users b ON b.pseudo = t.pseudo "
              "WHERE b.pseudo IS NULL"),
            q("SELECT COUNT(*) FROM target_groups t LEFT JOIN backup_groups b ON b.name = t.name WHERE b.name IS NULL"),
            q("SELECT COUNT(*) FROM target_users"),
        )

    def outcome(self) -> Outcome:
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        out = Outcome()
        c = out.counts
        c["backup_users"] = q("SELECT COUNT(*) FROM backup_users")
        c["target_users"] = q("SELECT COUNT(*) FROM target_users")
        c["backup_groups"] = q("SELECT COUNT(*) FROM backup_groups")
        c["target_groups"] = q("SELECT COUNT(*) FROM target_groups")
        c["backup_memberships"] = q("SELECT COUNT(*) FROM backup_members")
        c["target_memberships"] = q("SELECT COUNT(*) FROM target_members")
        c["users_reset_refused_no_verified_contact"] = q(
            "SELECT COUNT(*) FROM backup_users b JOIN target_users t ON t.pseudo = b.pseudo "
            "WHERE t.ours = 1 AND t.status IN ('CONFIRMED', 'FORCE_CHANGE_PASSWORD') AND b.verified = 0")
        live = self.since is not None
        if live:
            c["users_restored"] = q("SELECT COUNT(*) FROM backup_users b JOIN target_users t ON t.pseudo = b.pseudo "
                                    "WHERE t.ours = 1")
            c["users_already_present"] = q("SELECT COUNT(*) FROM backup_users b JOIN target_users t "
                                           "ON t.pseudo = b.pseudo WHERE t.ours = 0")
            c["groups_already_present"] = q("SELECT COUNT(*) FROM backup_groups b JOIN target_groups t "
                                            "ON t.name = b.name WHERE t.ours = 0")
        for side, kind, n in self.db.execute("SELECT side, kind, SUM(n) FROM duplicates GROUP BY side, kind"):
            c[f"diff_duplicate_{side}_{kind}"] = n

        def record(kind: str, entry: dict[str, Any]) -> None:
            c[kind] = c.get(kind, 0) + 1
            if len(out.differences) < MAX_LISTED_DIFFERENCES:
                out.differences.append({"problem": kind.removeprefix("diff_"), **entry})
            else:
                out.truncated = True

        for (sub,) in self.db.execute(
            "SELECT b.sub FROM backup_users b LEFT JOIN target_users t ON t.pseudo = b.pseudo WHERE t.pseudo IS NULL"
        ):
            record("diff_user_missing", {"user": user_ref(sub)})
        # Into a live pool, what else it holds is none of the restore's business.
        for (sub,) in [] if live else self.db.execute(
            "SELECT t.sub FROM target_users t LEFT JOIN backup_users b ON b.pseudo = t.pseudo WHERE b.pseudo IS NULL"
        ):
            record("diff_user_unexpected", {"target_user": user_ref(sub, "t")})
        rows = self.db.execute(
            "SELECT b.sub, b.attrs, t.attrs, b.enabled, t.enabled, b.verified, t.status, b.legacy, t.legacy "
            "FROM backup_users b JOIN target_users t ON t.pseudo = b.pseudo WHERE t.ours = 1"
        )
        # A user Cognito cannot reset (no verified email or phone) stays as restored: with a random
        # password in a new pool, as created (temporary password) in a live pool.
        unreset = "FORCE_CHANGE_PASSWORD" if live else "CONFIRMED"
        for sub, b_attrs, t_attrs, b_enabled, t_enabled, verified, status, b_legacy, t_legacy in rows:
            ref = user_ref(sub)
            if b_attrs != t_attrs:
                record("diff_user_attributes", {"user": ref, "attributes": _differing_names(b_attrs, t_attrs)})
            if b_enabled != t_enabled:
                record("diff_user_enabled", {"user": ref, "expected_enabled": bool(b_enabled)})
            if not (status == "RESET_REQUIRED" or (status == unreset and not verified)):
                record("diff_user_status", {"user": ref, "status": status})
            if self.legacy_attribute and b_legacy != t_legacy:
                record("diff_user_legacy_sub", {"user": ref})
        for name, in self.db.execute(
            "SELECT b.name FROM backup_groups b LEFT JOIN target_groups t ON t.name = b.name WHERE t.name IS NULL"
        ):
            record("diff_group_missing", {"group": name})
        for name, in [] if live else self.db.execute(
            "SELECT t.name FROM target_groups t LEFT JOIN backup_groups b ON b.name = t.name WHERE b.name IS NULL"
        ):
            record("diff_group_unexpected", {"group": name})
        for name, in self.db.execute(
            "SELECT b.name FROM backup_groups b JOIN target_groups t ON t.name = b.name "
            "WHERE t.ours = 1 AND b.settings != t.settings"
        ):
            record("diff_group_settings", {"group": name})
        for grp, sub in self.db.execute(
            "SELECT m.grp, u.sub FROM backup_members m "
            "LEFT JOIN target_members t ON t.grp = m.grp AND t.pseudo = m.pseudo "
            "LEFT JOIN backup_users u ON u.pseudo = m.pseudo WHERE t.pseudo IS NULL"
        ):
            record("diff_membership_missing", {"group": grp, "user": user_ref(sub) if sub else None})
        for grp, sub in [] if live else self.db.execute(
            "SELECT t.grp, u.sub FROM target_members t "
            "LEFT JOIN backup_members m ON m.grp = t.grp AND m.pseudo = t.pseudo "
            "LEFT JOIN target_users u ON u.pseudo = t.pseudo WHERE m.pseudo IS NULL"
        ):
            record("diff_membership_unexpected", {"group": grp, "target_user": user_ref(sub, "t") if sub else None})
        return out


def _differing_names(a: str, b: str) -> list[str]:
    left, right = dict(json.loads(a)), dict(json.loads(b))
    return sorted(n for n in set(left) | set(right) if left.get(n) != right.get(n))


def load(comparison: Comparison, cognito: Any, table: Any, user_pool_id: str, username_attributes: list[str],
         threads: int = 8) -> None:
    """Stream the backup (one table scan) and the target (Cognito listings, meanwhile) into `comparison`."""
    def backup() -> None:
        groups: list[items.Group] = []
        scan_kinds(table, {
            items.USER: lambda b: comparison.add_backup_users([items.User.from_item(i) for i in b]),
            items.GROUP: lambda b: groups.extend(items.Group.from_item(i) for i in b),
            items.MEMBERSHIP: lambda b: comparison.add_members(
                "backup", [(m.group, m.pseudo_username) for m in map(items.Membership.from_item, b)]
            ),
        })
        comparison.add_groups("backup", groups)

    with ThreadPoolExecutor(max_workers=1) as reader:
        reading = reader.submit(backup)
        load_target(comparison, cognito, user_pool_id, username_attributes, threads)
        reading.result()


def load_target(comparison: Comparison, cognito: Any, user_pool_id: str, username_attributes: list[str],
                threads: int) -> None:
    """Every user, group and membership of the target pool, into `comparison`."""
    list_pool_users(cognito, user_pool_id, lambda page: comparison.add_target_users(page, username_attributes))
    raw_groups = [g for page in cognito.list_groups(user_pool_id) for g in page]
    groups = [items.Group.from_cognito(g) for g in raw_groups]
    comparison.add_groups("target", groups, {g["GroupName"]: epoch(g.get("CreationDate")) for g in raw_groups})

    def members(group: items.Group) -> None:
        for page in cognito.list_users_in_group(user_pool_id, group.name):
            pairs = [
                (group.name, items.User.from_cognito(raw, username_attributes).pseudo_username)
                for raw in page if raw.get("UserStatus") != "EXTERNAL_PROVIDER"
            ]
            comparison.add_members("target", pairs)

    with short_collections(), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for future in [pool.submit(members, g) for g in groups]:
            future.result()
