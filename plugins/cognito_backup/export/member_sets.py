"""A group's members in one digest, so that an unchanged group costs no table read.

Without it, an export reads every group's membership items to find that nothing changed: one
`Query` a group, a thousand calls for a thousand groups, each costing the task as much CPU as
a Cognito call. So each group of up to `MAX_PAGES` pages of members also has a `MEMBER_SET`
item in its partition (`items.member_set_item`): the count and digest of its (sub, digest)
pairs as the table holds them. A group whose listing gives the same digest is unchanged: no
read, no write.

A set is only ever true of the table:
- it is written once the group's listing was reconciled, its items all written, and none of
  its stored members was gone (those wait for the deletion guard, so the table still holds them);
- it is deleted before the first of the group's items is written (`forget_member_set`) or
  removed (`export/deletions.py`), so that a run failing half-way leaves no set of the old items;
  a group that only lost members keeps its set, which still describes the items until the
  deletion guard's sweep removes them;
- sets and the items a set is made from are read consistently.
Every group is still compared item by item on one day of the week (`full_check_due`), so that
items removed from the table behind the export's back come back within a week; `full_refresh`
compares them all at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from cognito_backup import items
from cognito_backup.export.reconcile import Counts

# Pages of members (60 each) a group may have to get a set. A longer group is compared item by
# item: its one table read is small beside its 17 or more listing calls.
MAX_PAGES = 16
FULL_CHECK_EVERY_DAYS = 7
_DAY_MS = 86_400_000

# A page of a group's listing: its members, None for a user the export skips (federated).
Page = Sequence[items.Membership | None]


def full_check_due(group: str, run_started_ms: int) -> bool:
    """True on the group's day of the week for an item-by-item comparison (a seventh of them a day)."""
    return (zlib.crc32(group.encode()) + run_started_ms // _DAY_MS) % FULL_CHECK_EVERY_DAYS == 0


def listed_digest(pages: Sequence[Page]) -> str | None:
    """The member set digest of a group's whole listing; None when it is longer than `MAX_PAGES`
    or names a member twice (a listing that paged while the group changed): no set for it."""
    if len(pages) > MAX_PAGES:
        return None
    pairs = [(m.sub, m.digest) for page in pages for m in page if m is not None]
    if len({sub for sub, _ in pairs}) != len(pairs):
        return None
    return items.member_set_digest(pairs)


def unchanged(pages: Iterable[Page]) -> Counts:
    """The counts of a group found unchanged by its set: what reconciling it would have counted."""
    members = skipped = 0
    for page in pages:
        for member in page:
            if member is None:
                skipped += 1
            else:
                members += 1
    return Counts(listed=members, unchanged=members, skipped=skipped, stored=members)
