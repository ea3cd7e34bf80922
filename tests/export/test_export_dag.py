"""End to end: the export DAG against the emulator, asserting what ends up in the table."""

from __future__ import annotations

import json

import boto3
import pytest

from airflow_runs import task_states
from backup_state import backup_state, pool_state, table_items
from budget import assert_category_budgets, busiest_second, cognito_calls, max_calls_in_any_second, schedule_keys
from cognito_backup import items
from export_runs import REGION, TABLE, assert_exact, export, written_keys
from notices import notifications, topic_with_queue

@pytest.fixture
def pool(aws) -> str:
    return aws.seed(REGION, users=150, groups=8, federated=2, seed=11)


def test_export_copies_every_user_group_and_membership(aws, tmp_path, pool):
    run = export(tmp_path, pool)
    assert run.state == "success", task_states(run)
    state = assert_exact(pool)
    assert len(state["users"]) == 150  # the two federated users are skipped
    assert len(state["groups"]) == 8 and state["memberships"]
    assert any(not u["enabled"] for u in state["users"].values())
    assert any(u["status"] == "UNCONFIRMED" for u in state["users"].values())
    assert any("," in v for u in state["users"].values() for v in u["attributes"].values())

    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    manifest = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
    assert manifest.counts["users_written"] == 150
    assert manifest.counts["users_skipped"] == 2
    assert manifest.counts["groups_written"] == 8
    assert manifest.counts["memberships_written"] == len(state["memberships"])
    assert manifest.exported_at > 0 and manifest.user_pool_id == pool
    snapshot = table.get_item(Key={"id": items.SNAPSHOT_ID, "type": items.SNAPSHOT})["Item"]
    assert "custom:" in snapshot["snapshot"] and "AutoVerifiedAttributes" in snapshot["snapshot"]
    description = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=TABLE)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert description["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_email_username_pool_keeps_pseudo_usernames(aws, tmp_path):
    pool_id = aws.seed(REGION, users=40, groups=3, username_attribute="email", seed=3)
    run = export(tmp_path, pool_id, user_shards=1)
    assert run.state == "success", task_states(run)
    state = assert_exact(pool_id)
    for user in state["users"].values():
        assert user["pseudo_username"] == user["attributes"]["email"] != user["username"]


def test_second_export_writes_exactly_the_changes(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    cognito = boto3.client("cognito-idp", region_name=REGION)
    state = backup_state(table_items(REGION, TABLE))
    subs = sorted(state["users"])
    removed_user, changed_user = subs[0], subs[1]
    group_members = sorted(m for m in state["memberships"] if m[1] not in (removed_user,))
    removed_group = sorted(state["groups"])[0]
    left_group, left_sub = next(m for m in group_members if m[0] != removed_group)
    by_sub = {sub: u["username"] for sub, u in state["users"].items()}

    cognito.admin_delete_user(UserPoolId=pool, Username=by_sub[removed_user])
    cognito.delete_group(UserPoolId=pool, GroupName=removed_group)
    cognito.admin_remove_user_from_group(UserPoolId=pool, Username=by_sub[left_sub], GroupName=left_group)
    cognito.admin_update_user_attributes(UserPoolId=pool, Username=by_sub[changed_user],
                                         UserAttributes=[{"Name": "given_name", "Value": "Renée, changed"}])
    added = cognito.admin_create_user(UserPoolId=pool, Username="new-user", MessageAction="SUPPRESS",
                                      UserAttributes=[{"Name": "email", "Value": "new@example.com"}])["User"]
    added_sub = next(a["Value"] for a in added["Attributes"] if a["Name"] == "sub")

    mark = aws.mark()
    # A group of some 30 members removed: more than the deletion guard lets one run remove by default.
    run = export(tmp_path, pool, max_delete_fraction=0.5)
    assert run.state == "success", task_states(run)
    expected = {
        (f"USER-{removed_user}", "USER"), (f"USER-{changed_user}", "USER"), (f"USER-{added_sub}", "USER"),
        (f"GROUP-{removed_group}", "GROUP"), (f"GROUP_MEMBER-{left_group}", f"GROUP_MEMBER-{left_sub}"),
    }
    expected |= {(f"GROUP_MEMBER-{g}", f"GROUP_MEMBER-{s}") for g, s in state["memberships"]
                 if g == removed_group or s == removed_user}
    # The changed user's memberships carry only username fields, which did not change.
    assert written_keys(aws.requests(since=mark)) == expected
    assert_exact(pool)


def test_export_without_change_writes_no_backup_item(aws, tmp_path, pool):
    assert export(tmp_path, pool, user_shards=1).state == "success"
    mark = aws.mark()
    run = export(tmp_path, pool, user_shards=1)
    assert run.state == "success", task_states(run)
    assert written_keys(aws.requests(since=mark)) == set()
    assert_exact(pool)


def test_export_stays_within_the_call_budget(aws, tmp_path):
    # One shard big enough to be listed as 16 narrower listings in parallel threads.
    pool_id = aws.seed(REGION, users=1200, groups=12, seed=5)
    mark = aws.mark()
    run = export(tmp_path, pool_id, cognito_tps=8, user_shards=1)
    assert run.state == "success", task_states(run)
    calls = cognito_calls(aws.requests(since=mark))
    assert len(calls) > 40
    assert max_calls_in_any_second(calls) <= 8 + 1, busiest_second(calls)
    # One budget for all calls, whatever their quota category: one schedule of slots.
    assert {c["category"] for c in calls} == {"UserPoolRead", "UserPoolResourceRead", "UserList"}
    assert schedule_keys(REGION, TABLE, run.dag_id, run.run_id) == {"<run>"}


def test_export_with_a_budget_per_quota_category(aws, tmp_path):
    pool_id = aws.seed(REGION, users=1200, groups=12, seed=5)
    aws.set_config(quotas="aws")
    mark = aws.mark()
    # A quarter of each quota: 7.5 listings a second (UserList), 5 group listings (UserPoolResourceRead).
    run = export(tmp_path, pool_id, cognito_tps=None, cognito_quota_share=0.25, user_shards=1)
    assert run.state == "success", task_states(run)
    calls = cognito_calls(aws.requests(since=mark))
    assert not [c for c in calls if c["outcome"] != "ok"]
    assert_category_budgets(calls, {"UserList": 7.5, "UserPoolResourceRead": 5, "UserPoolRead": 3.75})
    listings = [c for c in calls if c["category"] == "UserList"]
    assert len(listings) > 40 and max_calls_in_any_second(listings) == 8
    # The preflight's one call is paced in its task alone; the listings share the run's schedules.
    assert schedule_keys(REGION, TABLE, run.dag_id, run.run_id) == {"#UserList", "#UserPoolResourceRead"}
    assert_exact(pool_id)


def test_export_with_throttling_is_still_exact(aws, tmp_path):
    pool_id = aws.seed(REGION, users=1200, groups=12, seed=8)
    aws.set_faults([{"operation": "*", "service": "cognito-idp", "kind": "throttle", "fraction": 0.2}])
    run = export(tmp_path, pool_id, user_shards=1)
    assert run.state == "success", task_states(run)
    assert sum(r["injected"] for r in aws.faults()) >= 3  # about 10 of some 50 calls
    aws.set_faults([])
    assert_exact(pool_id)


def test_failed_shard_deletes_nothing_and_keeps_the_manifest(aws, tmp_path):
    pool = aws.seed(REGION, users=1200, groups=4, seed=9)  # shard "a": about 75 users, two pages
    assert export(tmp_path, pool, user_shards=16).state == "success"
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    before = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
    state = backup_state(table_items(REGION, TABLE))
    shard_a = [sub for sub in state["users"] if sub.startswith("a")]
    assert len(shard_a) > 63
    shard_a = shard_a[:3]
    cognito = boto3.client("cognito-idp", region_name=REGION)
    for sub in shard_a:
        cognito.admin_delete_user(UserPoolId=pool, Username=state["users"][sub]["username"])
    # Listings of shard "a" fail after their first page: the shard saw part of its users only.
    aws.set_faults([{"operation": "ListUsers", "kind": "internal", "match": 'sub ^= "a', "after": 1}])

    run = export(tmp_path, pool, user_shards=16)
    states = task_states(run)
    assert run.state == "failed"
    assert states["users.shard[10]"] == "failed" and states["finish"] != "success"
    kept = backup_state(table_items(REGION, TABLE))
    assert all(sub in kept["users"] for sub in shard_a)
    after = items.Manifest.from_item(table.get_item(Key={"id": items.MANIFEST_ID, "type": items.MANIFEST})["Item"])
    assert after.exported_at == before.exported_at

    aws.set_faults([])
    assert export(tmp_path, pool).state == "success"
    assert not any(sub in assert_exact(pool)["users"] for sub in shard_a)


def test_full_refresh_converges_a_table_of_the_retired_format(aws, tmp_path, pool):
    assert export(tmp_path, pool).state == "success"
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    # Rewrite the table as the retired solution wrote it: suffixed types, no digest or shard key.
    for item in table_items(REGION, TABLE):
        kind = items.kind_of(item)
        if kind in (items.USER, items.GROUP, items.MANIFEST):
            table.delete_item(Key={"id": item["id"], "type": item["type"]})
            dropped = ("digest", "shardKey", "roleArn", "counts", "snapshotRef", "durationSeconds")
            legacy = {k: v for k, v in item.items() if k not in dropped}
            legacy["type"] = f"{kind}-0b6f1c52-8f3e-4a8e-9a47-2d7c1f3e9b10"
            table.put_item(Item=legacy)
        elif kind == items.MEMBERSHIP:
            table.put_item(Item={k: v for k, v in item.items() if k != "digest"})
    stale = {"id": "USER-ffffffff-0000-4000-8000-000000000000", "type": "USER-0b6f1c52", "username": "gone",
             "pseudoUsername": "gone", "userAttributes": [{"Name": "sub", "Value": "ffffffff-0000-4000-8000-000000000000"}],
             "userEnabled": True, "userStatus": "CONFIRMED", "lastConfirmedInUserPool": 1}
    table.put_item(Item=stale)

    run = export(tmp_path, pool, conf={"full_refresh": True})
    assert run.state == "success", task_states(run)
    remaining = table_items(REGION, TABLE)
    assert not [i for i in remaining if items.is_legacy(i)]
    assert all(i.get("digest") for i in remaining if items.kind_of(i) in (items.USER, items.GROUP, items.MEMBERSHIP))
    assert_exact(pool)


def test_pool_requiring_mfa_is_refused_before_anything_is_written(aws, tmp_path):
    pool_id = aws.seed(REGION, users=5, groups=1, mfa="ON")
    mark = aws.mark()
    run = export(tmp_path, pool_id)
    assert run.state == "failed"
    assert task_states(run)["prepare"] == "failed"
    assert not [r for r in aws.requests(since=mark) if r["service"] == "dynamodb"]


def test_failure_is_notified_without_user_data(aws, tmp_path, pool):
    topic, queue = topic_with_queue("backup-alerts", REGION)
    aws.set_faults([{"operation": "ListGroups", "kind": "internal"}])

    run = export(tmp_path, pool, notification_topic_arn=topic)
    assert run.state == "failed"
    bodies = " ".join(json.dumps(n, ensure_ascii=False) for n in notifications(queue, REGION))
    aws.set_faults([])
    assert "groups_and_memberships.groups" in bodies and "failed" in bodies
    state = pool_state(REGION, pool)
    for user in state["users"].values():
        assert user["username"] not in bodies and user["attributes"].get("email", "@@") not in bodies
