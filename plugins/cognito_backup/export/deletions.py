"""The export's sweep: remove from the backup what disappeared from the pool, or hold it back.

The listing tasks stage what they found gone (in the table, under the run's key) instead of
deleting it. Once every one of them has finished, the export's last task sums their counts,
asks the deletion guard (`export/guard.py`) and either removes exactly what was staged or
removes nothing. Either way the staged items go, and a later run finds the same deletions
again for as long as the pool still lacks those users: a held-back deletion is never lost, nor
applied by surprise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cognito_backup import items
from cognito_backup.compat import AirflowFailException
from cognito_backup.export import guard

if TYPE_CHECKING:
    from cognito_backup.hooks.backup_table import BackupTableHook


def summed(results: Iterable[Any]) -> dict[str, int]:
    """The counts of several tasks (dicts, or lists of dicts from mapped tasks), added up by key."""
    totals: dict[str, int] = {}
    for result in results:
        for part in [result] if isinstance(result, dict) else list(result or []):
            for key, value in (part or {}).items():
                totals[key] = totals.get(key, 0) + int(value)
    return totals


class DeletionsHeldBack(AirflowFailException):
    """An export found more gone from the pool than one run may remove. The message holds counts
    and the way out, never user data; the failure notification carries it (`held_back`)."""

    held_back = True


def held_back_message(dag_id: str, decision: guard.Decision, limits: guard.Limits) -> str:
    return (
        f"deletions held back: {decision.describe(limits)}. New and changed users, groups and memberships "
        "were written; nothing was removed from the backup, and the manifest records what was held back. "
        "Later exports keep holding these deletions until the pool has them again (they fall back under the "
        f"limit). If they are intended, trigger {dag_id} with the config {{\"allow_mass_delete\": true}}: it "
        "removes exactly what is then pending. If they are not, bring the users back from the backup "
        "(README, \"When something goes wrong\")."
    )


def sweep(table: BackupTableHook, key: str, decision: guard.Decision, limits: guard.Limits,
          log: logging.Logger) -> dict[str, int]:
    """Apply the guard's decision to what the run staged: remove it all, or none of it. Counts."""
    deleted = {kind: 0 for kind in guard.KINDS}
    if decision.apply:
        deleted = apply(table, table.staged_deletions(key))
        if decision.overridden:
            log.warning("Deletions over the guard's limits applied, as this run allows: %s", decision.describe(limits))
    else:
        log.error("Deletions held back: %s", decision.describe(limits))
    table.drop_staged_deletions(key)
    log.info("Deleted: %s", deleted)
    return {
        **{f"{kind}_deleted": n for kind, n in deleted.items()},
        **{f"{kind}_held_back": n for kind, n in decision.held_back.items()},
        "deletions_over_limit_allowed": int(decision.overridden),
    }


def apply(table: BackupTableHook, staged: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Delete staged partitions (a removed group's memberships) and items; counts by kind."""
    deleted = {kind: 0 for kind in guard.KINDS}
    kinds = {items.USER: "users", items.GROUP: "groups", items.MEMBERSHIP: "memberships"}
    members = items.MEMBERSHIP_PREFIX
    for chunk in staged:
        # A group's member set goes first: it never describes membership items that are gone.
        groups = [p.removeprefix(members) for p in chunk["partitions"]]
        groups += [i.removeprefix(members) for i, t in chunk["keys"] if items.kind_of({"type": t}) == items.MEMBERSHIP]
        if groups:
            table.forget_member_sets(groups)
        for partition in chunk["partitions"]:
            deleted["memberships"] += table.delete_partition(partition, members)
        with table.writer() as batch:
            for item_id, item_type in chunk["keys"]:
                batch.delete_item(Key={"id": item_id, "type": item_type})
                deleted[kinds[items.kind_of({"type": item_type})]] += 1
    return deleted
