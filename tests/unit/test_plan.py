"""How an export splits its listing, from the pool's size."""

from __future__ import annotations

import math

import pytest

from cognito_backup.export import plan


def listing_calls(users: int, parts: list[str]) -> float:
    """Expected ListUsers calls for `users` spread evenly over `parts` (each page 60 users)."""
    per_part = users / len(parts)
    return len(parts) * math.ceil(per_part / plan.PAGE)


@pytest.mark.parametrize("users, tasks, prefix_len", [
    (0, 1, 0), (2_000, 1, 0), (3_000, 1, 0), (19_199, 1, 0), (20_000, 1, 1), (100_000, 1, 1),
    (200_000, 2, 1), (1_000_000, 10, 2), (5_000_000, 50, 3), (20_000_000, 196, 3),
])
def test_tasks_and_parts_follow_the_pool_size(users, tasks, prefix_len):
    found = plan.user_tasks(users)
    assert len(found) == tasks
    parts = [p for t in found for p in t]
    assert parts == plan.prefixes(prefix_len)  # every prefix once, in order: the whole pool
    assert all(t for t in found)


@pytest.mark.parametrize("users", [20_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000])
def test_listing_takes_at_most_five_percent_more_calls_than_full_pages(users):
    parts = [p for t in plan.user_tasks(users) for p in t]
    parts = [s for p in parts for s in plan.split(p, users / 16 ** len(p))]
    assert listing_calls(users, parts) <= 1.05 * math.ceil(users / plan.PAGE)


def test_each_task_has_parts_to_list_in_parallel_from_twenty_thousand_users():
    for users in (20_000, 100_000, 1_000_000, 5_000_000):
        assert min(len(t) for t in plan.user_tasks(users)) >= 8


def test_a_configured_shard_count_wins():
    assert plan.user_tasks(1_000_000, shards=16) == [[h] for h in plan.prefixes(1)]
    assert plan.user_tasks(10, shards=1) == [[""]]
    assert plan.split("a", 1_000_000 / 16) == [f"a{h}" for h in "0123456789abcdef"]
    assert plan.split("a", 2_000) == ["a"]  # 16 listings of 125 users would waste a page each


def test_membership_tasks_follow_the_group_count():
    assert plan.membership_tasks(0) == 0 and plan.membership_tasks(1_000) == 0  # listed by the groups task
    assert plan.membership_tasks(1_001) == 2 and plan.membership_tasks(10_000) == 10
    assert plan.membership_tasks(50, chunks=4) == 4
