"""End to end: a restore with a budget per Cognito quota category (`cognito_quota_share`), with
and without an overall cap, against the emulator enforcing AWS's quotas; and memberships of
imported users that do not wait for the users created one by one."""

from __future__ import annotations

import boto3
import pytest

from budget import assert_category_budgets, by_caller, cognito_calls, max_calls_in_any_second, schedule_keys, utilisation
from import_runs import REGION, assert_restored, compatible_pool, export, run_import, task_states, xcom_of
from localaws.quotas import RATES as QUOTAS


@pytest.fixture(scope="module")
def backup(emulator, tmp_path_factory):
    emulator.reset()
    pool_id = emulator.seed(REGION, users=120, groups=6, seed=23)
    table = export(tmp_path_factory.mktemp("cfg"), "categories", pool_id)
    return {"pool_id": pool_id, "table": table}


@pytest.fixture
def aws_quotas(emulator):
    """The emulator throttles as AWS does at its default quotas, for one test."""
    emulator.set_config(quotas="aws")
    yield emulator
    emulator.set_config(quotas="off")


def shares(share: float, **budgets: float) -> dict[str, float]:
    """Each category's budget: `share` of AWS's default quota, unless given."""
    return {category: budgets.get(category, share * quota) for category, quota in QUOTAS.items()}


def busy(calls: list[dict], caller: str, category: str) -> list[dict]:
    return [c for c in by_caller(calls)[caller] if c["category"] == category]


def test_each_category_has_its_own_budget_and_they_run_side_by_side(aws_quotas, backup):
    target = compatible_pool(backup["pool_id"], REGION, REGION, "categories")
    mark = aws_quotas.mark()
    run = run_import({
        "backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
        "strategy": "admin_create", "cognito_tps": None, "cognito_quota_share": 0.5,
        "cognito_quotas": {"UserResourceUpdate": 40}, "cognito_category_tps": {"UserCreation": 8},
    })
    assert run.state == "success", task_states(run)
    calls = cognito_calls(aws_quotas.requests(since=mark))
    assert_restored(REGION, backup["pool_id"], REGION, target)
    assert not [c for c in calls if c["outcome"] != "ok"]
    budgets = shares(0.5, UserResourceUpdate=20, UserCreation=8)
    assert_category_budgets(calls, budgets)
    # Users are created at their category's budget while their passwords are set at another's:
    # more calls in a second than any one budget allows.
    assert max_calls_in_any_second(calls) > max(budgets["UserCreation"], budgets["UserResourceUpdate"]) + 1
    # Each step uses the budget of the category it is bound by.
    created = busy(calls, "RestoreUsersOperator", "UserCreation")
    assert len(created) == 120 and utilisation(created, 8) >= 0.9
    added = busy(calls, "AddCreatedMembershipsOperator", "UserResourceUpdate")
    assert len(added) >= 60 and utilisation(added, 20) >= 0.9
    # A schedule of slots per category used, none for all calls together (no cap).
    used = {f"#{c['category']}" for c in calls}
    assert schedule_keys(REGION, backup["table"], run.dag_id, run.run_id) == used


def test_an_overall_cap_bounds_the_categories_together(aws_quotas, backup):
    target = compatible_pool(backup["pool_id"], REGION, REGION, "capped")
    mark = aws_quotas.mark()
    run = run_import({
        "backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
        "strategy": "admin_create", "cognito_tps": 15, "cognito_quota_share": 0.5,
    })
    assert run.state == "success", task_states(run)
    calls = cognito_calls(aws_quotas.requests(since=mark))
    assert_restored(REGION, backup["pool_id"], REGION, target)
    assert not [c for c in calls if c["outcome"] != "ok"]
    assert_category_budgets(calls, shares(0.5), cap=15)
    # Creating users (their own budget, 25, above the cap) and setting their passwords (12.5,
    # below it) would take 18.75 calls a second: the cap binds, and is used.
    users = by_caller(calls)["RestoreUsersOperator"]
    assert len(users) >= 300 and utilisation(users, 15) >= 0.9
    added = busy(calls, "AddCreatedMembershipsOperator", "UserResourceUpdate")
    assert len(added) >= 60 and utilisation(added, 12.5) >= 0.9
    # The overall schedule, and the schedules of the categories whose budget is below the cap.
    below = {f"#{c['category']}" for c in calls if 0.5 * QUOTAS[c["category"]] < 15}
    assert "#UserResourceUpdate" in below and "#UserCreation" not in below
    assert schedule_keys(REGION, backup["table"], run.dag_id, run.run_id) == {"<run>"} | below


def test_memberships_of_imported_users_do_not_wait_for_users_created_one_by_one(emulator, backup):
    target = compatible_pool(backup["pool_id"], REGION, REGION, "early-members")
    conf = {"backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
            "cognito_tps": None, "cognito_quota_share": 1.0}
    emulator.set_faults([{"operation": "AdminCreateUser", "kind": "internal"}])
    mark = emulator.mark()
    try:
        failed = run_import(conf)
    finally:
        emulator.set_faults([])
    states = task_states(failed)
    assert states["users.create[0]"] == "failed"
    assert {s for t, s in states.items() if t.startswith(("memberships.after_create", "verify"))} == {"upstream_failed"}
    # The CSV job's users are there: their memberships were added all the same, and only theirs.
    assert states["memberships.after_csv[0]"] == "success"
    early = xcom_of(failed, "memberships.after_csv")
    adds = [c for c in cognito_calls(emulator.requests(since=mark)) if c["operation"] == "AdminAddUserToGroup"]
    assert early["memberships_added"] == len(adds) > 0 and {c["outcome"] for c in adds} == {"ok"}
    imported = {u["Username"] for page in boto3.client("cognito-idp", region_name=REGION).get_paginator(
        "list_users").paginate(UserPoolId=target) for u in page["Users"]}
    assert {c["target"]["user"] for c in adds} <= imported

    run = run_import(conf)
    assert run.state == "success", task_states(run)
    restored = assert_restored(REGION, backup["pool_id"], REGION, target)
    assert early["memberships_added"] + xcom_of(run, "memberships.after_create")["memberships_added"] == (
        restored["memberships"])
