"""End to end: the deletion guard keeps a mass deletion in the pool out of the backup until allowed."""

from __future__ import annotations

import json

import boto3
import pytest

from airflow_runs import task_states
from backup_state import backup_state, table_items
from cognito_backup import items
from export_runs import REGION, TABLE, assert_exact, export, written_keys
from notices import notifications, topic_with_queue


@pytest.fixture
def pool(aws) -> str:
    return aws.seed(REGION, users=1000, groups=10, seed=31)


def delete_users(pool_id: str, subs: list[str], state: dict) -> None:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    for sub in subs:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=state["users"][sub]["username"])


def manifest() -> items.Manifest:
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    return items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])


def user_data(state: dict) -> set[str]:
    return {u["username"] for u in state["users"].values()} | set(state["users"]) | {
        u["attributes"]["email"] for u in state["users"].values() if u["attributes"].get("email")}


def test_a_mass_deletion_is_held_back_until_the_run_allows_it(aws, tmp_path, pool):
    topic, queue = topic_with_queue("guard-alerts", REGION)
    assert export(tmp_path, pool, notification_topic_arn=topic).state == "success"
    before = backup_state(table_items(REGION, TABLE))
    deleted = sorted(before["users"])[::5]  # 200 of 1,000 users, and their memberships
    assert len(deleted) == 200
    delete_users(pool, deleted, before)
    # Meanwhile a user changes: changes are still written while deletions are held back.
    cognito = boto3.client("cognito-idp", region_name=REGION)
    changed = sorted(set(before["users"]) - set(deleted))[0]
    cognito.admin_update_user_attributes(UserPoolId=pool, Username=before["users"][changed]["username"],
                                         UserAttributes=[{"Name": "given_name", "Value": "Changed, again"}])

    mark = aws.mark()
    run = export(tmp_path, pool, notification_topic_arn=topic)
    assert run.state == "failed"
    states = task_states(run)
    assert states["finish"] == "failed", states
    assert written_keys(aws.requests(since=mark)) == {(f"USER-{changed}", items.USER)}
    held = backup_state(table_items(REGION, TABLE))
    assert set(held["users"]) == set(before["users"])  # all 1,000 users still backed up
    assert held["memberships"] == before["memberships"] and held["groups"] == before["groups"]
    assert held["users"][changed]["attributes"]["given_name"] == "Changed, again"
    recorded = manifest()
    lost_memberships = sum(1 for _, sub in before["memberships"] if sub in deleted)
    assert recorded.deletions_held_back == {"users": 200, "groups": 0, "memberships": lost_memberships}
    assert recorded.counts["users_held_back"] == 200 and recorded.counts["users_deleted"] == 0

    notes = notifications(queue, REGION)
    text = " ".join(json.dumps(n, ensure_ascii=False) for n in notes)
    assert "200 of 1,000 users (20.0%)" in text and '\\"allow_mass_delete\\": true' in text
    assert not [s for s in user_data(before) if s in text]

    # The next scheduled run holds them back again: the pool has not recovered.
    run = export(tmp_path, pool)
    assert run.state == "failed" and task_states(run)["finish"] == "failed"
    assert set(backup_state(table_items(REGION, TABLE))["users"]) == set(before["users"])

    # Triggered with the override: exactly the 200 users and their memberships go.
    mark = aws.mark()
    run = export(tmp_path, pool, conf={"allow_mass_delete": True})
    assert run.state == "success", task_states(run)
    removed = written_keys(aws.requests(since=mark))
    assert removed == {(f"USER-{sub}", items.USER) for sub in deleted} | {
        (items.Membership.partition(g), f"{items.MEMBERSHIP}-{sub}") for g, sub in before["memberships"] if sub in deleted}
    after = assert_exact(pool)
    assert len(after["users"]) == 800
    assert manifest().deletions_held_back == {} and manifest().counts["users_deleted"] == 200
    # Nothing staged is left behind.
    assert not [i for i in table_items(REGION, TABLE) if i["id"].startswith(items.STAGED_DELETIONS_ID)]


def test_deletions_within_the_limit_are_applied(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    before = backup_state(table_items(REGION, TABLE))
    deleted = sorted(before["users"])[:40]
    delete_users(pool, deleted, before)
    run = export(tmp_path, pool)
    assert run.state == "success", task_states(run)
    assert len(assert_exact(pool)["users"]) == 960
    assert manifest().counts["users_deleted"] == 40 and manifest().deletions_held_back == {}


def test_a_deleted_group_takes_its_memberships_only_when_allowed(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    before = backup_state(table_items(REGION, TABLE))
    group = sorted(before["groups"])[0]
    members = {m for m in before["memberships"] if m[0] == group}
    assert len(members) > 0.05 * len(before["memberships"])
    boto3.client("cognito-idp", region_name=REGION).delete_group(UserPoolId=pool, GroupName=group)

    assert export(tmp_path, pool).state == "failed"
    held = backup_state(table_items(REGION, TABLE))
    assert group in held["groups"] and held["memberships"] == before["memberships"]
    assert manifest().deletions_held_back == {"users": 0, "groups": 1, "memberships": len(members)}

    assert export(tmp_path, pool, conf={"allow_mass_delete": True}).state == "success"
    assert group not in assert_exact(pool)["groups"]
