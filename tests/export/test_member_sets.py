"""A group whose listing matches its stored member set is not read again; one that changed is
compared item by item, and its set is never trusted past a change it does not describe."""

from __future__ import annotations

import time

import boto3
import pytest

from airflow_runs import task_states
from backup_state import backup_state, table_items
from budget import by_caller
from cognito_backup import items
from cognito_backup.export import member_sets
from export_runs import REGION, TABLE, assert_exact, export


DAY_MS = 86_400_000


@pytest.fixture
def pool(aws) -> str:
    return aws.seed(REGION, users=150, groups=8, federated=2, seed=11)


def stored_sets() -> dict[str, str]:
    return {i["id"].removeprefix(f"{items.MEMBERSHIP}-"): i["digest"]
            for i in table_items(REGION, TABLE) if items.kind_of(i) == items.MEMBER_SET}


def exported_at() -> int:
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    return items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"]).exported_at


def group_reads(aws, mark: int) -> int:
    """Table reads of the groups task, which also lists the members of up to 1,000 groups."""
    return len([r for r in by_caller(aws.requests(since=mark)).get("ExportGroupsOperator", []) if r["operation"] == "Query"])


def due(groups) -> set[str]:
    return {g for g in groups if member_sets.full_check_due(g, exported_at())}


def trusted(groups) -> list[str]:
    """Groups whose sets a run trusts today and tomorrow (not on their weekly full check)."""
    now = int(time.time() * 1000)
    found = [g for g in groups if not any(member_sets.full_check_due(g, now + d * DAY_MS) for d in (0, 1))]
    assert found
    return sorted(found)


def test_unchanged_groups_are_not_read_and_changed_ones_are_compared_item_by_item(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    state = assert_exact(pool)
    sizes = {g: len([m for m in state["memberships"] if m[0] == g]) for g in state["groups"]}
    assert {g: int(d.split(":")[0]) for g, d in stored_sets().items()} == sizes

    mark = aws.mark()
    assert export(tmp_path, pool).state == "success"
    # One read of the groups' digests, and the members only of groups on their weekly full check.
    assert group_reads(aws, mark) == 1 + len(due(state["groups"]))
    assert_exact(pool)

    cognito = boto3.client("cognito-idp", region_name=REGION)
    usernames = {sub: u["username"] for sub, u in state["users"].items()}
    left_group, left_sub = sorted(state["memberships"])[0]
    joined_group = next(g for g in sorted(state["groups"]) if g != left_group)
    joined_sub = next(s for s in sorted(state["users"]) if (joined_group, s) not in state["memberships"])
    cognito.admin_remove_user_from_group(UserPoolId=pool, Username=usernames[left_sub], GroupName=left_group)
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=usernames[joined_sub], GroupName=joined_group)
    before = stored_sets()

    mark = aws.mark()
    run = export(tmp_path, pool)
    assert run.state == "success", task_states(run)
    assert group_reads(aws, mark) == 1 + len(due(state["groups"]) | {left_group, joined_group})
    assert_exact(pool)
    after = stored_sets()
    # The joined group's set describes its new members. The left group's went when the deletion
    # guard's sweep removed the member's item, and comes back with a run that finds nothing gone.
    assert int(after[joined_group].split(":")[0]) == sizes[joined_group] + 1
    assert left_group not in after
    assert {g: d for g, d in after.items() if g != joined_group} == {g: d for g, d in before.items()
                                                                     if g not in (left_group, joined_group)}

    mark = aws.mark()
    assert export(tmp_path, pool).state == "success"
    assert group_reads(aws, mark) == 1 + len(due(state["groups"]) | {left_group})
    assert int(stored_sets()[left_group].split(":")[0]) == sizes[left_group] - 1
    assert_exact(pool)


def test_a_set_is_forgotten_before_its_group_changes(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    state = assert_exact(pool)
    cognito = boto3.client("cognito-idp", region_name=REGION)
    group = sorted(state["groups"])[0]
    sub = next(s for s in sorted(state["users"]) if (group, s) not in state["memberships"])
    username = state["users"][sub]["username"]
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
    # The new member's item is written, then storing the new sets fails: the run fails with the
    # group's items changed and no set of them.
    aws.set_faults([{"operation": "BatchWriteItem", "kind": "internal", "match": items.MEMBER_SET}])
    run = export(tmp_path, pool)
    assert run.state == "failed"
    assert (group, sub) in backup_state(table_items(REGION, TABLE))["memberships"]
    assert group not in stored_sets()

    # The group is back to the members its old set described: still compared item by item.
    aws.set_faults([])
    cognito.admin_remove_user_from_group(UserPoolId=pool, Username=username, GroupName=group)
    assert export(tmp_path, pool).state == "success"
    assert (group, sub) not in assert_exact(pool)["memberships"]


def test_full_refresh_restores_items_removed_behind_the_exports_back(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    state = assert_exact(pool)
    group = trusted(state["groups"])[0]
    sub = min(s for g, s in state["memberships"] if g == group)
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    table.delete_item(Key={"id": items.Membership.partition(group), "type": f"{items.MEMBERSHIP}-{sub}"})
    # The group's set still describes the item: an ordinary run leaves it missing until the
    # group's weekly full check.
    assert export(tmp_path, pool).state == "success"
    assert (group, sub) not in backup_state(table_items(REGION, TABLE))["memberships"]

    assert export(tmp_path, pool, conf={"full_refresh": True}).state == "success"
    assert_exact(pool)
    assert group in stored_sets()


def test_a_removed_group_takes_its_set_with_its_members(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    state = assert_exact(pool)
    group = sorted(state["groups"])[0]
    members = [s for g, s in state["memberships"] if g == group]
    boto3.client("cognito-idp", region_name=REGION).delete_group(UserPoolId=pool, GroupName=group)

    run = export(tmp_path, pool, max_delete_fraction=0.9)
    assert run.state == "success", task_states(run)
    assert group not in stored_sets()
    left = [i for i in table_items(REGION, TABLE) if i["id"] == items.Membership.partition(group)]
    assert left == []
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    manifest = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
    assert manifest.counts["memberships_deleted"] == len(members)
    assert_exact(pool)


def test_members_held_back_by_the_guard_are_found_gone_again(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    state = assert_exact(pool)
    group = max(trusted(state["groups"]), key=lambda g: len([m for m in state["memberships"] if m[0] == g]))
    left = sorted(s for g, s in state["memberships"] if g == group)[:12]  # over the guard's floor of 10
    assert len(left) / len(state["memberships"]) > 0.05
    cognito = boto3.client("cognito-idp", region_name=REGION)
    for sub in left:
        cognito.admin_remove_user_from_group(UserPoolId=pool, Username=state["users"][sub]["username"], GroupName=group)
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)

    for _ in range(2):  # held back, and still found gone by the next run
        assert export(tmp_path, pool).state == "failed"
        manifest = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
        assert manifest.deletions_held_back == {"users": 0, "groups": 0, "memberships": 12}
        assert all((group, sub) in backup_state(table_items(REGION, TABLE))["memberships"] for sub in left)

    assert export(tmp_path, pool, conf={"allow_mass_delete": True}).state == "success"
    assert not any((group, sub) in assert_exact(pool)["memberships"] for sub in left)
