"""Exports and restores on the CeleryExecutor under the faults production brings: workers and the
scheduler killed under running tasks, AWS answering with throttling, errors, dropped
connections and latency spikes, several runs at once on the same workers.

Each scenario asserts what ended up in the pool and the table, exactly, and the run's Cognito
budget over its whole length from the emulator's request log, retries included.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import boto3
import pytest

from backup_state import pool_state
from budget import max_calls_in_any_second
from cognito_backup.restore.report import REPORT_NAME, run_folder
from deployment import BUCKET, POOLS, REGION, Deployment
from import_runs import assert_restored
from runs import (
    assert_budget, assert_export_exact, elapsed, export, kill_and_replace, restore_conf, retried, run_calls,
    running_on_one_worker, wait_for_calls,
)

IMPORT = "cognito_import"


def change_pool(pool_id: str) -> dict[str, int]:
    """What happens to a pool between two exports: users deleted, created, changed, moved."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    users = [u["Username"] for u in cognito.list_users(UserPoolId=pool_id, Limit=60)["Users"]]
    group = cognito.list_groups(UserPoolId=pool_id, Limit=1)["Groups"][0]["GroupName"]
    for username in users[:40]:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=username)
    for username in users[40:50]:
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=username,
                                             UserAttributes=[{"Name": "custom:department", "Value": "Moved, again"}])
    for index in range(30):
        username = f"joined-{index}"
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": f"{username}@example.net"}])
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
    return {"deleted": 40, "changed": 10, "created": 30}


def test_export_completes_exactly_when_a_worker_is_killed_under_its_shards(deployment: Deployment, figures):
    """20,000 users at a budget of 20: a worker running user shards is SIGKILLed; the scheduler
    finds their tries without a heartbeat and retries them on the other worker."""
    d, pool = deployment, POOLS["kill"]
    export(d, "kill")  # the backup as it was before today's changes
    change_pool(d.pool_ids["kill"])
    mark = d.emulator.mark()
    started = time.monotonic()
    run_id = d.stack.trigger(pool.dag_id)
    wait_for_calls(d, mark, "ListUsers", 100)
    victim, killed = running_on_one_worker(d.stack, pool.dag_id, run_id, "users.shard", at_least=2)
    kill_and_replace(d.stack, victim)

    state = d.stack.wait_for_run(pool.dag_id, run_id)
    assert state == "success", d.stack.task_states(pool.dag_id, run_id)
    tries = retried(d.stack, pool.dag_id, run_id, killed)
    assert min(tries) >= 2
    # Nothing deleted that exists, nothing missing: the deleted users went, no other.
    counts = assert_export_exact(d, "kill")
    assert counts["users"] == pool.users - 40 + 30
    deletions = d.stack.xcom(pool.dag_id, run_id, "finish")
    assert (deletions["users_deleted"], deletions["users_held_back"]) == (40, 0), deletions
    calls = run_calls(d.emulator.requests(since=mark), pool.dag_id)
    figures("worker killed under user shards (export)", f"{pool.users:,} users, budget {pool.tps}",
            f"SIGKILL of {victim.name} and its {len(killed)} running shard tasks", elapsed(started),
            calls, assert_budget(calls, pool.tps), f"retried as try {max(tries)}")


def test_export_completes_exactly_when_the_scheduler_is_killed_and_started_again(deployment: Deployment, figures):
    d, pool = deployment, POOLS["scheduler"]
    scheduler = d.stack.components["scheduler"]
    mark = d.emulator.mark()
    started = time.monotonic()
    run_id = d.stack.trigger(pool.dag_id)
    wait_for_calls(d, mark, "ListUsers", 30)
    d.stack.kill(scheduler)
    # With no scheduler, running tasks go on and finish; nothing new is scheduled.
    time.sleep(15)
    d.stack.start(scheduler)
    restarted = time.time()
    state = d.stack.wait_for_run(pool.dag_id, run_id)
    assert state == "success", d.stack.task_states(pool.dag_id, run_id)
    assert_export_exact(d, "scheduler")
    # The run went on under the new scheduler: it queued some of the run's tasks (at least `finish`:
    # the kill came mid-listing, and no scheduler queued anything meanwhile).
    queued = [datetime.fromisoformat(ti["queued_when"]).timestamp()
              for ti in d.stack.task_instances(pool.dag_id, run_id) if ti["queued_when"]]
    assert any(moment > restarted for moment in queued), (restarted, queued)
    calls = run_calls(d.emulator.requests(since=mark), pool.dag_id)
    figures("scheduler killed and restarted (export)", f"{pool.users:,} users, budget {pool.tps}",
            "SIGKILL of the scheduler mid-listing, started again 15 s later", elapsed(started), calls,
            assert_budget(calls, pool.tps), "")


@pytest.fixture(scope="module")
def restore_source(deployment: Deployment) -> str:
    """The backup the restore scenario restores."""
    export(deployment, "restore")
    return deployment.pool_ids["restore"]


def assert_restore_verified(d: Deployment, name: str, run_id: str) -> str:
    """The run's verification passed and the pool it made equals the backed-up pool; returns its id."""
    target = d.stack.xcom(IMPORT, run_id, "target.prepare")["user_pool_id"]
    restored = assert_restored(REGION, d.pool_ids[name], REGION, target)
    assert restored["users"] == len(pool_state(REGION, d.pool_ids[name])["users"])
    s3 = boto3.client("s3", region_name=REGION)
    key = f"{name}/{run_folder(run_id)}/{REPORT_NAME}"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert report["verification"]["ok"], report["verification"]
    return target


def test_restore_completes_exactly_when_the_worker_adding_memberships_is_killed(
    deployment: Deployment, restore_source: str, figures,
):
    d, tps = deployment, 20
    mark = d.emulator.mark()
    started = time.monotonic()
    run_id = d.stack.trigger(IMPORT, restore_conf("restore", tps, d.topic))
    victim, killed = running_on_one_worker(d.stack, IMPORT, run_id, "memberships.after_csv", timeout=900)
    wait_for_calls(d, mark, "AdminAddUserToGroup", 200)
    kill_and_replace(d.stack, victim)

    state = d.stack.wait_for_run(IMPORT, run_id, timeout=1500)
    assert state == "success", d.stack.task_states(IMPORT, run_id)
    tries = retried(d.stack, IMPORT, run_id, killed)
    assert min(tries) >= 2
    assert d.stack.task_states(IMPORT, run_id)["verify"] == "success"
    assert_restore_verified(d, "restore", run_id)
    calls = run_calls(d.emulator.requests(since=mark), IMPORT)
    figures("worker killed under the membership step (restore)",
            f"{POOLS['restore'].users:,} users, csv_import into a new pool, budget {tps}",
            f"SIGKILL of {victim.name} while it added memberships", elapsed(started), calls,
            assert_budget(calls, tps), f"retried as try {max(tries)}")


# Cognito calls that change a pool: each may fail with HTTP 500.
COGNITO_WRITES = ("CreateUserPool", "CreateGroup", "AdminCreateUser", "AdminSetUserPassword", "AdminResetUserPassword",
                  "AdminAddUserToGroup", "AdminDisableUser", "CreateUserImportJob", "StartUserImportJob")
FAULTS = [
    {"operation": "*", "service": "cognito-idp", "kind": "throttle", "fraction": 0.2},
    *({"operation": op, "service": "cognito-idp", "kind": "internal", "fraction": 0.05} for op in COGNITO_WRITES),
    {"operation": "BatchWriteItem", "service": "dynamodb", "kind": "internal", "fraction": 0.05},
    {"operation": "*", "kind": "drop", "when": "before", "fraction": 0.01},
    {"operation": "*", "kind": "drop", "when": "after", "fraction": 0.01},
    {"operation": "*", "kind": "delay", "seconds": 2, "fraction": 0.02},
]


def test_export_and_restore_are_exact_under_throttling_errors_drops_and_latency_spikes(deployment: Deployment, figures):
    d, pool, tps = deployment, POOLS["faults"], 20
    d.emulator.set_faults(FAULTS)
    try:
        mark = d.emulator.mark()
        started = time.monotonic()
        export(d, "faults")
        export_calls = run_calls(d.emulator.requests(since=mark), pool.dag_id)
        export_seconds = elapsed(started)
        restore_mark = d.emulator.mark()
        started = time.monotonic()
        run_id = d.stack.trigger(IMPORT, restore_conf("faults", tps, d.topic))
        state = d.stack.wait_for_run(IMPORT, run_id, timeout=1500)
        assert state == "success", d.stack.task_states(IMPORT, run_id)
        restore_calls = run_calls(d.emulator.requests(since=restore_mark), IMPORT)
        rules = d.emulator.faults()
    finally:
        d.emulator.set_faults([])
    assert_export_exact(d, "faults")
    assert_restore_verified(d, "faults", run_id)
    # Every kind of fault met the runs; the throttling one, about a fifth of their Cognito calls.
    assert all(rule["injected"] for rule in rules if rule["operation"] in ("*", "BatchWriteItem", "AdminAddUserToGroup"))
    records = d.emulator.requests(since=mark)
    assert {r.get("fault") for r in records} >= {"throttle", "internal", "drop", "delay"}
    for calls in (export_calls, restore_calls):
        throttled = sum(c.get("fault") == "throttle" for c in calls) / len(calls)
        assert 0.1 < throttled < 0.3, throttled
    injected = sum(1 for r in records if r.get("fault"))
    figures("faults throughout (export)", f"{pool.users:,} users, budget {pool.tps}",
            "20% Cognito throttling, 5% HTTP 500 on DynamoDB batch writes and Cognito writes, "
            "1% connections dropped before and 1% after the call, 2% 2-second latency spikes",
            export_seconds, export_calls, assert_budget(export_calls, pool.tps), "")
    figures("faults throughout (restore)", f"{pool.users:,} users, csv_import into a new pool, budget {tps}",
            f"the same ({injected:,} faults met by both runs)", elapsed(started), restore_calls,
            assert_budget(restore_calls, tps), "")


@pytest.fixture(scope="module")
def concurrent_source(deployment: Deployment) -> str:
    export(deployment, "concurrent_restore")
    return deployment.pool_ids["concurrent_restore"]


def test_two_exports_and_a_restore_at_once_each_hold_their_own_budget_on_their_own_pool(
    deployment: Deployment, concurrent_source: str, figures,
):
    d, tps = deployment, 10
    a, b = POOLS["concurrent_a"], POOLS["concurrent_b"]
    mark = d.emulator.mark()
    started = time.monotonic()
    runs = {a.dag_id: d.stack.trigger(a.dag_id), b.dag_id: d.stack.trigger(b.dag_id),
            IMPORT: d.stack.trigger(IMPORT, restore_conf("concurrent_restore", tps, d.topic))}
    for dag_id, run_id in runs.items():
        state = d.stack.wait_for_run(dag_id, run_id, timeout=1500)
        assert state == "success", (dag_id, d.stack.task_states(dag_id, run_id))
    assert_export_exact(d, "concurrent_a")
    assert_export_exact(d, "concurrent_b")
    target = assert_restore_verified(d, "concurrent_restore", runs[IMPORT])

    records = d.emulator.requests(since=mark)
    calls = {dag_id: run_calls(records, dag_id) for dag_id in runs}
    # Each run called only its own pool...
    assert {c.get("pool") for c in calls[a.dag_id]} == {d.pool_ids["concurrent_a"]}
    assert {c.get("pool") for c in calls[b.dag_id]} == {d.pool_ids["concurrent_b"]}
    assert {c.get("pool") for c in calls[IMPORT]} - {None} == {target}  # None: CreateUserPool, ListUserPools
    # ...at once...
    spans = {dag_id: (min(c["time"] for c in run), max(c["time"] for c in run)) for dag_id, run in calls.items()}
    overlap = min(end for _, end in spans.values()) - max(start for start, _ in spans.values())
    assert overlap > 5, spans
    # ...and held its own budget, while together they made more calls a second than any one may.
    together = [c for run in calls.values() for c in run]
    busiest = {dag_id: assert_budget(run, a.tps if dag_id != IMPORT else tps) for dag_id, run in calls.items()}
    assert max_calls_in_any_second(together) > tps + 1
    figures("two exports and a restore at once", f"{a.users:,} + {b.users:,} users exported, budget {a.tps} each; "
            f"{POOLS['concurrent_restore'].users:,} restored, budget {tps}",
            f"none: three runs share two workers ({overlap:.0f} s all at once)", elapsed(started), together,
            " / ".join(str(busiest[dag_id]) for dag_id in runs), "each run on its own pool")
