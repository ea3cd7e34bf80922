"""How a group's listing is summed up in its member set digest, and which day it is checked in full."""

from __future__ import annotations

import uuid

from cognito_backup import items
from cognito_backup.export import member_sets

DAY_MS = 86_400_000


def member(i: int, username: str | None = None) -> items.Membership:
    name = username or f"user-{i}"
    return items.Membership("staff", str(uuid.UUID(int=i)), name, name)


def test_a_listing_digest_depends_on_its_members_not_their_order_or_pages() -> None:
    members = [member(i) for i in range(150)]
    pages = [members[i:i + 60] for i in range(0, 150, 60)]
    digest = member_sets.listed_digest(pages)
    assert digest.startswith("150:")
    assert member_sets.listed_digest([list(reversed(members[75:])), members[:75]]) == digest
    # Federated users (None) are not members the backup keeps.
    assert member_sets.listed_digest([[None, *pages[0]], pages[1], [*pages[2], None]]) == digest
    changed = [*members[:-1], member(149, "renamed")]
    assert member_sets.listed_digest([changed]) != digest
    assert member_sets.listed_digest([members[:-1]]) != digest
    assert member_sets.listed_digest([[*members[:-1], member(150)]]) != digest


def test_no_set_for_a_long_listing_or_one_naming_a_member_twice() -> None:
    page = [member(i) for i in range(60)]
    assert member_sets.listed_digest([page] * 1) is not None
    long = [[member(p * 60 + i) for i in range(60)] for p in range(member_sets.MAX_PAGES + 1)]
    assert member_sets.listed_digest(long[:-1]) is not None
    assert member_sets.listed_digest(long) is None
    assert member_sets.listed_digest([page, [member(3, "renamed while listed")]]) is None


def test_each_group_is_checked_in_full_one_day_a_week() -> None:
    groups = [f"group-{i}" for i in range(300)] + ["Zoë's-team", "sales,emea"]
    start = 1_780_000_000_000
    days = [{g for g in groups if member_sets.full_check_due(g, start + day * DAY_MS)} for day in range(7)]
    assert sorted(g for due in days for g in due) == sorted(groups)  # each exactly once
    assert all(20 < len(due) < 70 for due in days)
    # The same all day long.
    assert {g for g in groups if member_sets.full_check_due(g, start + 6 * DAY_MS + 3_600_000)} == days[6]


def test_a_group_found_unchanged_counts_as_reconciling_it_would() -> None:
    counts = member_sets.unchanged([[member(1), None, member(2)], [member(3)]])
    assert (counts.listed, counts.unchanged, counts.written, counts.skipped, counts.stored, counts.gone) == (3, 3, 0, 1, 3, 0)
