"""How an export splits its work, decided at run time from the pool's size.

The budget is the scarce resource, so every `ListUsers` call should carry a full page (60
users). A pool is listed in parts by `sub` prefix (`sub ^= "3f"`): a part of n users costs
ceil(n / 60) calls, so each part wastes half a page on average. Parts are therefore made as
wide as possible while still giving enough parts to list in parallel: at least `MIN_PART_USERS`
users each (20 full pages, about 2.5% waste), and no narrower than needed.

Parts are then grouped into tasks of about `USERS_PER_TASK` users: a pool of up to 100,000 is
one task (each task costs its start-up, a heartbeat every few seconds while it runs and the
scheduler's round trips, whatever it lists), a very large one tens to hundreds (a retry re-lists
one task's share). A task lists its parts in parallel threads, so that one task alone can use the
whole budget.

Memberships are listed group by group (a group's listing cannot be split), so their tasks
follow the group count; a pool with few groups lists them in the groups task itself.

Pure: sizes in, plans out.
"""

from __future__ import annotations

import math

from cognito_backup.items import HEX

PAGE = 60
MIN_PART_USERS = 20 * PAGE
# An unchanged export of 100,000 users in 1,000 groups ran 2 user and 2 membership tasks with
# 50,000 and 500; one user task and the groups task alone now. A retry re-lists at most a task's
# share: about a minute of budget at 30 calls a second.
USERS_PER_TASK = 100_000
MAX_PREFIX_LEN = 3  # 4096 parts: about 5 million users at the minimum part size, and more beyond
GROUPS_PER_MEMBERSHIP_TASK = 1_000


def prefixes(length: int) -> list[str]:
    """Every `sub` prefix of `length` hex digits, in order ("" for the whole pool)."""
    found = [""]
    for _ in range(length):
        found = [p + h for p in found for h in HEX]
    return found


def part_prefix_length(users: int) -> int:
    """The longest prefix whose parts still hold at least MIN_PART_USERS users each."""
    length = 0
    while length < MAX_PREFIX_LEN and users / 16 ** (length + 1) >= MIN_PART_USERS:
        length += 1
    return length


def user_tasks(estimated_users: int, shards: int | None = None) -> list[list[str]]:
    """The user listing tasks: for each, the `sub` prefixes it lists (in parallel threads).

    `shards` (the config's `user_shards`): that many tasks, one prefix each, as configured.
    """
    if shards:
        return [[p] for p in prefixes(round(math.log(shards, 16)))]
    parts = prefixes(part_prefix_length(max(0, estimated_users)))
    tasks = max(1, min(len(parts), math.ceil(estimated_users / USERS_PER_TASK)))
    size = math.ceil(len(parts) / tasks)
    return [parts[i:i + size] for i in range(0, len(parts), size)]


def split(prefix: str, expected_users: float) -> list[str]:
    """A prefix listed as 16 narrower ones when each would still hold MIN_PART_USERS users."""
    if expected_users / 16 >= MIN_PART_USERS and len(prefix) < MAX_PREFIX_LEN + 1:
        return [prefix + h for h in HEX]
    return [prefix]


def membership_tasks(groups: int, chunks: int | None = None) -> int:
    """How many membership tasks: 0 when the groups task lists the members itself.

    `chunks` (the config's `membership_chunks`): that many, as configured.
    """
    if chunks:
        return chunks
    return 0 if groups <= GROUPS_PER_MEMBERSHIP_TASK else math.ceil(groups / GROUPS_PER_MEMBERSHIP_TASK)
