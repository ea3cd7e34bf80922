"""Is a user pool a fit target for a restore of this backup? Reads only.

A target must exist, be compatible with the backed-up pool, and hold nothing but what an
earlier run of this import put there (then the run resumes). Every problem is described by
attribute, setting or count, never by user data.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup import items, pool
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.hooks.cognito import CognitoHook
from cognito_backup.restore.admin_users import error_code
from cognito_backup.restore.parallel import list_pool_users, scan_parallel
from cognito_backup.restore.verify import Comparison


class TargetProblem(ValueError):
    """The target pool cannot receive this backup; the message says why."""


@dataclass
class TargetCheck:
    user_pool_id: str | None  # None: a pool is to be created
    create: bool
    pool_name: str
    resume: bool  # the target already holds part of this backup
    target_users: int
    target_groups: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def restored_pool_name(table_name: str, exported_at: int) -> str:
    """The name of the pool `create_target_pool` makes: found again by a re-triggered run."""
    return f"{table_name}-restore-{exported_at}"[:128]


def find_pool(cognito: CognitoHook, name: str) -> str | None:
    found = [p["Id"] for p in cognito.list_user_pools() if p.get("Name") == name]
    if len(found) > 1:
        raise TargetProblem(f"{len(found)} user pools are named {name}; pass target_user_pool_id to choose one")
    return found[0] if found else None


def describe(cognito: CognitoHook, user_pool_id: str) -> dict[str, Any]:
    try:
        return cognito.describe_user_pool(user_pool_id)
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise TargetProblem(
                f"target user pool {user_pool_id} does not exist in {cognito.region_name}"
            ) from None
        raise TargetProblem(f"cannot describe target user pool {user_pool_id}: {error_code(err)}") from None


def inferred_problems(table: BackupTableHook, target: dict[str, Any]) -> list[str]:
    """Compatibility without a pool snapshot (tables of the retired solution): from the users."""
    used: set[str] = set()
    username_like: set[str] = set()
    lock = threading.Lock()

    def note(item: dict[str, Any]) -> None:
        user = items.User.from_item(item)
        attrs = user.attribute_map
        with lock:
            used.update(n for n in attrs if n.startswith("custom:"))
            if user.pseudo_username != user.username:
                username_like.update(n for n in ("email", "phone_number") if attrs.get(n) == user.pseudo_username)

    scan_parallel(table, items.USER, note)
    target_custom = pool.custom_attributes(target.get("SchemaAttributes", []))
    problems = [f"custom attribute {n} is missing from the target pool" for n in sorted(used - set(target_custom))]
    target_username = sorted(target.get("UsernameAttributes") or [])
    if sorted(username_like) != target_username and (username_like or target_username):
        problems.append(
            f"username attributes differ: backup users sign in with {sorted(username_like) or 'their username'}, "
            f"target {target_username or 'username'}"
        )
    return problems


def content_problems(cognito: CognitoHook, table: BackupTableHook, user_pool_id: str,
                     username_attributes: list[str]) -> tuple[bool, int, int, list[str]]:
    """(resume, users, groups, problems): the target must hold only this backup's users and groups."""
    has_users = bool(cognito.first_users(user_pool_id))
    target_groups = [items.Group.from_cognito(g) for page in cognito.list_groups(user_pool_id) for g in page]
    if not has_users and not target_groups:
        return False, 0, 0, []
    with Comparison() as comparison:
        scan_parallel(
            table, items.USER, lambda batch: comparison.add_backup_users([items.User.from_item(i) for i in batch]),
            batch_size=500,
        )
        comparison.add_groups("backup", [items.Group.from_item(i) for i in table.scan_kind(items.GROUP)])
        comparison.add_groups("target", target_groups)
        if has_users:
            list_pool_users(cognito, user_pool_id, lambda page: comparison.add_target_users(page, username_attributes))
        unexpected_users, unexpected_groups, users = comparison.unexpected_counts()
    problems = []
    if unexpected_users or unexpected_groups:
        problems.append(
            f"it holds {unexpected_users} users and {unexpected_groups} groups that are not in this backup; "
            "a restore goes into an empty pool, or resumes in one holding only an earlier run's import of this backup"
        )
    return True, users, len(target_groups), problems


def check_target(cognito: CognitoHook, table: BackupTableHook, *, user_pool_id: str | None, create: bool,
                 snapshot: dict[str, Any] | None, exported_at: int, live: bool = False) -> TargetCheck:
    """Everything a restore needs of its target, checked with reads only. Raises TargetProblem.

    `live`: a restore of what is missing into a pool in use, which may hold anything.
    """
    name = restored_pool_name(table.table_name, exported_at)
    if create:
        if snapshot is None:
            raise TargetProblem(
                "the backup holds no pool snapshot (a table written by the retired AWS solution), so no pool "
                "can be created from it; create a compatible pool and pass target_user_pool_id"
            )
        user_pool_id = find_pool(cognito, name)
        if user_pool_id is None:
            return TargetCheck(None, True, name, False, 0, 0)
    if not user_pool_id:
        raise TargetProblem("no target pool: give target_user_pool_id or create_target_pool")
    target = describe(cognito, user_pool_id)
    problems = (
        pool.compatibility_problems(snapshot, target) if snapshot is not None else inferred_problems(table, target)
    )
    if problems:
        raise TargetProblem(
            f"target user pool {user_pool_id} is not compatible with the backup: " + "; ".join(problems)
        )
    if live:
        return TargetCheck(user_pool_id, False, name, False, 0, 0)
    resume, users, groups, problems = content_problems(
        cognito, table, user_pool_id, target.get("UsernameAttributes") or []
    )
    if problems:
        raise TargetProblem(
            f"target user pool {user_pool_id} is not a restore target for this backup: " + "; ".join(problems)
        )
    return TargetCheck(user_pool_id, False, name, resume, users, groups)


def pool_info(cognito: CognitoHook, user_pool_id: str, legacy_sub_attribute: str,
              with_csv_header: bool) -> dict[str, Any]:
    """What the restoring tasks need to know of the target (settings only)."""
    target = cognito.describe_user_pool(user_pool_id)
    names = {a["Name"] for a in target.get("SchemaAttributes", [])}
    policy = (target.get("Policies") or {}).get("PasswordPolicy") or {}
    return {
        "user_pool_id": user_pool_id,
        "username_attributes": target.get("UsernameAttributes") or [],
        "auto_verified": target.get("AutoVerifiedAttributes") or [],
        "legacy_attribute": legacy_sub_attribute if legacy_sub_attribute and legacy_sub_attribute in names else "",
        "password_length": int(policy.get("MinimumLength", 8)),
        "csv_header": cognito.get_csv_header(user_pool_id) if with_csv_header else [],
    }


__all__ = ["TargetCheck", "TargetProblem", "check_target", "pool_info", "restored_pool_name"]
