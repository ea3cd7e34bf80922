"""End to end: recover from an incident, not only an outage.

A pool is backed up (t0); then 300 users and a group are deleted and 50 users changed, and the
next export, allowed to, copies the damage into the backup (t1). From the backup's
point-in-time recovery: the pool as it was at t0 restored into a new pool, from either Region's
replica; and only the lost users, group and memberships brought back into the live pool.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from backup_state import pool_state
from budget import cognito_calls
from import_runs import (
    BACKUP_REGION, LEGACY, REGION, assert_matches, export, run_import, task_states, writes, xcom_of,
)

PITR_LAG = 1  # the emulator's latest restorable time: now minus this many seconds (AWS: about 5 minutes)
# Every Cognito operation that changes a user or a group (not a pool-level import job).
USER_OR_GROUP_WRITES = {
    "AdminCreateUser", "AdminSetUserPassword", "AdminResetUserPassword", "AdminDisableUser", "AdminEnableUser",
    "AdminUpdateUserAttributes", "AdminDeleteUser", "AdminAddUserToGroup", "AdminRemoveUserFromGroup",
    "CreateGroup", "UpdateGroup", "DeleteGroup",
}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def incident(emulator, tmp_path_factory):
    emulator.reset()
    emulator.set_config(pitr_lag=PITR_LAG)
    pool_id = emulator.seed(REGION, users=1000, groups=10, seed=41)
    t0 = pool_state(REGION, pool_id, with_sub=False)
    old_subs = {u["pseudo_username"]: sub for sub, u in pool_state(REGION, pool_id)["users"].items()}
    tmp = tmp_path_factory.mktemp("incident")
    table = export(tmp, "incident", pool_id, backup_regions=[BACKUP_REGION])
    time.sleep(1.1)
    point = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(2.1)

    # The incident: a script deletes 300 users and a group, a migration rewrites 50 users' names.
    cognito = boto3.client("cognito-idp", region_name=REGION)
    names = sorted(t0["users"])
    deleted, changed = set(names[::3][:300]), names[1::3][:50]
    for name in deleted:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=name)
    group = sorted(t0["groups"])[0]
    cognito.delete_group(UserPoolId=pool_id, GroupName=group)
    for name in changed:
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=name,
                                             UserAttributes=[{"Name": "family_name", "Value": "Overwritten"}])
    # The next export, told to apply the mass deletion, copies the damage into the backup.
    export(tmp, "incident", pool_id, backup_regions=[BACKUP_REGION], conf={"allow_mass_delete": True})
    time.sleep(PITR_LAG + 0.5)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="incident-reports")
    return {"pool_id": pool_id, "table": table, "t0": t0, "old_subs": old_subs, "point": point,
            "deleted": deleted, "changed": set(changed), "group": group}


def assert_table_gone(region: str, name: str) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        boto3.client("dynamodb", region_name=region).describe_table(TableName=name)


@pytest.mark.parametrize("region", [REGION, BACKUP_REGION])
def test_a_point_in_time_restores_the_pool_as_it_was_into_a_new_pool(emulator, incident, region):
    run = run_import({
        "backup_table": incident["table"], "table_region": region, "target_region": region,
        "create_target_pool": True, "restore_point": iso(incident["point"]),
    })
    assert run.state == "success", task_states(run)
    restored = xcom_of(run, "point_in_time")
    assert restored["restored"] and restored["table_name"].startswith(incident["table"] + "-pitr-")
    assert xcom_of(run, "verify")["ok"]  # verified against the restored table
    target = xcom_of(run, "target.prepare")["user_pool_id"]
    assert target.startswith(region + "_")
    state = assert_matches(incident["t0"], pool_state(region, target, with_sub=False), incident["old_subs"], LEGACY)
    assert state["users"] == 1000
    assert xcom_of(run, "cleanup") == {"dropped": True}
    assert_table_gone(region, restored["table_name"])


def test_a_point_outside_the_window_fails_before_any_write(emulator, incident):
    mark = emulator.mark()
    before_backup = iso(incident["point"] - timedelta(hours=2))  # the table did not exist yet
    run = run_import({"backup_table": incident["table"], "table_region": REGION, "create_target_pool": True,
                      "restore_point": before_backup})
    assert run.state == "failed"
    assert task_states(run)["point_in_time"] == "failed"
    assert writes(emulator.requests(since=mark)) == []

    future = iso(datetime.now(timezone.utc) + timedelta(hours=1))
    run = run_import({"backup_table": incident["table"], "table_region": REGION, "create_target_pool": True,
                      "restore_point": future})
    assert run.state == "failed" and task_states(run)["check_params"] == "failed"
    assert writes(emulator.requests(since=mark)) == []


def live_writes(records: list[dict]) -> list[dict]:
    return [r for r in cognito_calls(records) if r["operation"] in USER_OR_GROUP_WRITES]


def test_missing_only_brings_back_exactly_what_was_lost_into_the_live_pool(emulator, incident):
    pool_id, t0 = incident["pool_id"], incident["t0"]
    before = pool_state(REGION, pool_id, with_sub=False)
    assert len(before["users"]) == 700 and incident["group"] not in before["groups"]
    conf = {"backup_table": incident["table"], "table_region": REGION, "target_user_pool_id": pool_id,
            "target_mode": "missing_only", "restore_point": iso(incident["point"]),
            "report_s3_uri": "s3://incident-reports/undelete"}
    mark = emulator.mark()
    run = run_import(conf)
    assert run.state == "success", task_states(run)
    after = pool_state(REGION, pool_id, with_sub=False)

    # Exactly the lost users, the group and the memberships are back, as they were at t0.
    assert set(after["users"]) == set(t0["users"])
    assert after["groups"] == t0["groups"] and after["memberships"] == t0["memberships"]
    restored = {name: after["users"][name] for name in incident["deleted"]}
    assert_matches({"users": {n: t0["users"][n] for n in restored}, "groups": {}, "memberships": set()},
                   {"users": restored, "groups": {}, "memberships": set()}, unreset="FORCE_CHANGE_PASSWORD")
    # Everyone else is untouched: the 50 changed users keep their change.
    for name, user in before["users"].items():
        assert after["users"][name] == user, name
    assert all(after["users"][n]["attributes"]["family_name"] == "Overwritten" for n in incident["changed"])

    # No write call on a user or group that existed: creations of lost users, the lost group,
    # and the memberships the pool lacked (of lost users, or in the lost group) only.
    calls = live_writes(emulator.requests(since=mark))
    assert calls
    for call in calls:
        user, group = call.get("target", {}).get("user"), call.get("target", {}).get("group")
        if call["operation"] == "AdminAddUserToGroup":
            assert user in incident["deleted"] or group == incident["group"], call
        elif call["operation"] == "CreateGroup":
            assert group == incident["group"], call
        else:
            assert user in incident["deleted"], call
    report = xcom_of(run, "verify")
    assert report["ok"] and report["users_restored"] == 300 and report["users_already_present"] == 700

    # Run again: there is nothing left to add.
    mark = emulator.mark()
    again = run_import(conf)
    assert again.state == "success", task_states(again)
    assert live_writes(emulator.requests(since=mark)) == []
    assert pool_state(REGION, pool_id, with_sub=False) == after
