"""End to end: export seeded pools, import the backups into new pools, compare pool with pool; and the
import's safety: dry runs, resuming after a failure, bad inputs refused before any write."""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest

from budget import busiest_second, by_caller, cognito_calls, max_calls_in_any_second, schedule_keys, utilisation
from notices import notifications, topic_with_queue
from import_runs import (
    BACKUP_REGION, LEGACY, REGION, all_xcom_text, assert_matches, assert_restored, compatible_pool, export,
    run_import, task_states, writes, xcom_of,
)

BUCKET = "restore-reports"


@pytest.fixture(scope="module")
def backup(emulator, tmp_path_factory):
    """A username pool (awkward values, disabled/unconfirmed/unverified users, federated users)
    backed up in us-east-1 with a replica in us-west-2."""
    emulator.reset()
    pool_id = emulator.seed(REGION, users=120, groups=8, federated=2, seed=21)
    table = export(tmp_path_factory.mktemp("cfg"), "rt", pool_id, backup_regions=[BACKUP_REGION])
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return {"pool_id": pool_id, "table": table}


def assert_budget(calls: list[dict], tps: int) -> None:
    """Never more than `tps` calls (one of jitter allowed) in any second of the run; while a task
    restores users or memberships, the budget is nearly all used."""
    assert max_calls_in_any_second(calls) <= tps + 1, busiest_second(calls)
    for phase in (("AdminCreateUser", "AdminSetUserPassword", "AdminResetUserPassword"), ("AdminAddUserToGroup",)):
        for caller, made in by_caller([c for c in calls if c["operation"] in phase]).items():
            if len(made) < 60:  # the CSV job restored most users: too few calls to measure
                continue
            assert utilisation(made, tps) >= 0.9, (phase, caller, utilisation(made, tps))


def test_csv_import_round_trip(emulator, backup, capfd):
    target = compatible_pool(backup["pool_id"], REGION, REGION, "rt-csv")
    capfd.readouterr()
    mark = emulator.mark()
    run = run_import({
        "backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
        "report_s3_uri": f"s3://{BUCKET}/imports", "cognito_tps": 25,
    })
    assert run.state == "success", task_states(run)
    calls = cognito_calls(emulator.requests(since=mark))
    # Only cognito_tps: one budget for the calls of every quota category, one schedule of slots.
    assert_budget(calls, 25)
    assert len({c["category"] for c in calls}) >= 5
    assert schedule_keys(REGION, backup["table"], run.dag_id, run.run_id) == {"<run>"}
    logs = capfd.readouterr().out
    restored = assert_restored(REGION, backup["pool_id"], REGION, target)
    assert restored["users"] == 120 and restored["memberships"] > 100
    # The memberships of the users the CSV job imported, then those of the users created one by one.
    after_csv, after_create = xcom_of(run, "memberships.after_csv"), xcom_of(run, "memberships.after_create")
    assert after_csv["memberships_added"] + after_create["memberships_added"] == restored["memberships"]
    assert after_csv["memberships_added"] > after_create["memberships_added"] > 0
    assert [c["outcome"] for c in calls if c["operation"] == "AdminAddUserToGroup"] == ["ok"] * restored["memberships"]

    # The CSV job imported most users; AdminCreateUser made only those the CSV could not carry.
    plan = xcom_of(run, "users.csv_plan", "plan")
    assert plan["eligible"] + sum(plan["left_out"].values()) == 120
    assert plan["left_out"]["unconfirmed"] >= 1 and plan["left_out"]["no_auto_verified_attribute_verified"] >= 1
    creates = [c for c in calls if c["operation"] == "AdminCreateUser"]
    assert len(creates) == sum(plan["left_out"].values())
    jobs = [c for c in calls if c["operation"] == "StartUserImportJob"]
    assert len(jobs) == 1
    job = xcom_of(run, "users.csv_job")
    assert job["imported"] == plan["eligible"] and job["clean"]


    # The report and the old-sub to new-sub map, in S3; user data nowhere else.
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="imports/")["Contents"]]
    report_key = next(k for k in keys if k.endswith("/report.json"))
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read())
    assert report["verification"]["ok"] and report["verification"]["backup_users"] == 120
    assert report["verification"]["users_reset_refused_no_verified_contact"] == restored["reset_refused"]
    assert report["steps"]["users"]["in_csv"] == report["steps"]["csv_jobs"]["imported"] == plan["eligible"]
    assert report["steps"]["reconcile"] == {}  # the job was clean: nothing to reconcile
    rows = list(csv.DictReader(io.StringIO(
        s3.get_object(Bucket=BUCKET, Key=report_key.replace("report.json", "sub-map.csv"))["Body"].read().decode()
    )))
    cognito = boto3.client("cognito-idp", region_name=REGION)
    source_subs = {a["Value"] for page in cognito.get_paginator("list_users").paginate(UserPoolId=backup["pool_id"])
                   for u in page["Users"] if u["UserStatus"] != "EXTERNAL_PROVIDER"
                   for a in u["Attributes"] if a["Name"] == "sub"}
    target_users = {a["Value"]: u for page in cognito.get_paginator("list_users").paginate(UserPoolId=target)
                    for u in page["Users"] for a in u["Attributes"] if a["Name"] == "sub"}
    assert {r["old_sub"] for r in rows} == source_subs
    assert {r["new_sub"] for r in rows} == set(target_users)
    for row in rows:
        legacy = {a["Name"]: a["Value"] for a in target_users[row["new_sub"]]["Attributes"]}[LEGACY]
        assert legacy == row["old_sub"]
    secrets = _user_data(backup["pool_id"])
    report_text = json.dumps(report)
    xcoms = all_xcom_text(run)
    assert "Verification: " in logs  # the task logs were captured
    assert not [s for s in secrets if s in report_text or s in xcoms or s in logs]


def _user_data(pool_id: str) -> set[str]:
    """Usernames, emails and subs of a pool: what must not leak."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    found = set()
    for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for user in page["Users"]:
            found.add(user["Username"])
            found.update(a["Value"] for a in user["Attributes"] if a["Name"] in ("email", "sub", "phone_number"))
    return found




def test_email_pool_round_trip_with_both_strategies(emulator, tmp_path):
    """Users who sign in with their email, federated users (never backed up): every user through
    AdminCreateUser into one pool, through a CSV job (email as cognito:username) into another."""
    source = emulator.seed(REGION, users=70, groups=5, username_attribute="email", federated=2, seed=22)
    table = export(tmp_path, "email", source)
    target = compatible_pool(source, REGION, REGION, "rt-admin")
    mark = emulator.mark()
    run = run_import({
        "backup_table": table, "table_region": REGION, "target_user_pool_id": target, "strategy": "admin_create",
        "cognito_tps": 25,
    })
    assert run.state == "success", task_states(run)
    calls = cognito_calls(emulator.requests(since=mark))
    assert_budget(calls, 25)
    restored = assert_restored(REGION, source, REGION, target)
    assert restored["users"] == 70
    assert task_states(run)["users.csv_plan"] == "skipped"
    assert not [c for c in calls if "ImportJob" in c["operation"] or c["operation"] == "GetCSVHeader"]
    assert len([c for c in calls if c["operation"] == "AdminCreateUser"]) == 70
    # No call Cognito is sure to refuse (a reset for a user with no verified contact): budget is
    # the customer's, shared with their application.
    assert not [c for c in calls if c["outcome"] != "ok"]
    users = xcom_of(run, "users.create")
    assert users["created"] == 70 and users.get("reset_refused_no_verified_contact", 0) == restored["reset_refused"]

    target = compatible_pool(source, REGION, REGION, "rt-email-csv")
    run = run_import({"backup_table": table, "table_region": REGION, "target_user_pool_id": target})
    assert run.state == "success", task_states(run)
    assert_restored(REGION, source, REGION, target)
    assert xcom_of(run, "users.csv_job")["imported"] == xcom_of(run, "users.csv_plan", "plan")["eligible"] > 40


def test_two_region_drill_into_a_created_pool(emulator, backup):
    """The backup Region's replica alone restores into a pool it creates there, like the backed-up one."""
    topic, queue = topic_with_queue("drill", BACKUP_REGION)
    conf = {"backup_table": backup["table"], "table_region": BACKUP_REGION, "target_region": BACKUP_REGION,
            "create_target_pool": True, "notification_topic_arn": topic}
    mark = emulator.mark()
    run = run_import(conf)
    assert run.state == "success", task_states(run)
    calls = emulator.requests(since=mark)
    [note] = notifications(queue, BACKUP_REGION)
    assert note["Subject"] == "Cognito import completed" and "'ok': True" in note["Message"]
    assert not [s for s in _user_data(backup["pool_id"]) if s in note["Message"]]
    assert {c["region"] for c in calls if c["service"] in ("cognito-idp", "dynamodb")} == {BACKUP_REGION}
    prepared = xcom_of(run, "target.prepare")
    assert prepared["created"] and prepared["legacy_attribute"] == LEGACY
    target = prepared["user_pool_id"]
    assert target.startswith(BACKUP_REGION + "_")
    created = boto3.client("cognito-idp", region_name=BACKUP_REGION).describe_user_pool(UserPoolId=target)["UserPool"]
    source = boto3.client("cognito-idp", region_name=REGION).describe_user_pool(UserPoolId=backup["pool_id"])["UserPool"]
    custom = lambda p: {a["Name"]: a["AttributeDataType"] for a in p["SchemaAttributes"] if a["Name"].startswith("custom:")}  # noqa: E731
    assert custom(created) == {**custom(source), LEGACY: "String"}
    for key in ("UsernameAttributes", "AutoVerifiedAttributes", "Policies"):
        assert created.get(key) == source.get(key)
    assert_restored(REGION, backup["pool_id"], BACKUP_REGION, target)

    # Triggered again: the run finds the pool it created (by name) and finds nothing left to do.
    mark = emulator.mark()
    again = run_import(conf)
    assert again.state == "success", task_states(again)
    assert xcom_of(again, "target.prepare")["user_pool_id"] == target
    operations = {c["operation"] for c in cognito_calls(emulator.requests(since=mark))}
    assert not operations & {"CreateUserPool", "AdminCreateUser", "CreateUserImportJob"}
    assert_restored(REGION, backup["pool_id"], BACKUP_REGION, target)


def legacy_table(source_table: str, name: str) -> list[dict]:
    """A copy of a backup in the retired solution's format: `type` suffixes, no snapshot, no
    digests or shard index, no group role ARNs (it did not export them)."""
    import uuid

    from backup_state import table_items
    from cognito_backup import items

    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "type", "AttributeType": "S"}],
    )
    written = []
    for item in table_items(REGION, source_table):
        kind = items.kind_of(item)
        if kind not in (items.USER, items.GROUP, items.MEMBERSHIP, items.MANIFEST):
            continue
        item = {k: v for k, v in item.items() if k not in ("digest", "shardKey", "roleArn", "counts", "snapshotRef",
                                                             "durationSeconds", "mfaReenrolmentNeeded", "userPoolId")}
        if kind != items.MEMBERSHIP:
            item["type"] = f"{kind}-{uuid.uuid4()}"
        written.append(item)
    # One user whose phone number an import job refuses (not E.164) while AdminCreateUser takes it.
    # (A user a CSV file can carry otherwise: no value the CSV format cannot escape.)
    odd = next(i for i in written if items.kind_of(i) == items.USER and i["userStatus"] == "CONFIRMED"
               and {"Name": "email_verified", "Value": "true"} in i["userAttributes"]
               and not any("\\," in a["Value"] or a["Value"].endswith("\\") or "\n" in a["Value"]
                           for a in i["userAttributes"]))
    odd["userAttributes"] = [a for a in odd["userAttributes"] if not a["Name"].startswith("phone_number")]
    odd["userAttributes"].append({"Name": "phone_number", "Value": "555-0100"})
    table = boto3.resource("dynamodb", region_name=REGION).Table(name)
    with table.batch_writer() as batch:
        for item in written:
            batch.put_item(Item=item)
    return written


def test_reference_format_table_imports_into_a_compatible_pool(emulator, backup):
    from backup_state import backup_state, pool_state

    legacy_items = legacy_table(backup["table"], "retired-format-backup")
    assert all(i["type"] != "USER" and "-" in i["type"] for i in legacy_items)
    target = compatible_pool(backup["pool_id"], REGION, REGION, "rt-legacy", legacy=None)
    run = run_import({"backup_table": "retired-format-backup", "table_region": REGION, "target_user_pool_id": target})
    assert run.state == "success", task_states(run)
    assert xcom_of(run, "read_backup", "backup")["legacy_format"] is True
    # The job refused one line; the reconcile step found who is missing and created that user.
    job, users = xcom_of(run, "users.csv_job"), xcom_of(run, "users.create")
    assert job["failed"] == 1 and not job["clean"]
    assert users["created"] == sum(v for k, v in users.items() if k.startswith("left_out_of_csv."))
    assert xcom_of(run, "users.reconcile")["created"] == 1
    restored = assert_matches(backup_state(legacy_items, with_sub=False), pool_state(REGION, target, with_sub=False))
    assert restored["users"] == 120 and restored["memberships"] > 100


def test_dry_run_reads_and_writes_nothing(emulator, backup):
    target = compatible_pool(backup["pool_id"], REGION, REGION, "dry")
    mark = emulator.mark()
    run = run_import({"backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
                      "dry_run": True, "report_s3_uri": f"s3://{BUCKET}/dry"})
    assert run.state == "success", task_states(run)
    records = emulator.requests(since=mark)
    assert records and writes(records) == []
    states = task_states(run)
    assert states["dry_run"] == "success" and states["target.check"] == "skipped" and states["verify"] == "skipped"
    would = xcom_of(run, "dry_run")
    assert would["users_to_create"] == 120 and would["groups_to_create"] == 8 and would["memberships_to_add"] > 100
    assert would["csv_users"] + sum(v for k, v in would.items() if k.startswith("left_out_of_csv.")) == 120
    assert boto3.client("cognito-idp", region_name=REGION).list_users(UserPoolId=target)["Users"] == []


def test_failures_mid_users_and_mid_memberships_then_rerun_is_exact(emulator, backup):
    """Each failed run leaves part of the work done; the next run finishes it, creating nothing twice."""
    target = compatible_pool(backup["pool_id"], REGION, REGION, "resume")
    conf = {"backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": target,
            "strategy": "admin_create"}
    for operation, failing_task in (("AdminSetUserPassword", "users.create[0]"), ("AdminAddUserToGroup", "memberships.after_create[0]")):
        emulator.set_faults([{"operation": operation, "kind": "internal", "after": 40}])
        try:
            failed = run_import(conf)
        finally:
            emulator.set_faults([])
        assert failed.state == "failed"
        states = task_states(failed)
        assert states[failing_task] == "failed", states
        assert states["verify"] == "upstream_failed"
    cognito = boto3.client("cognito-idp", region_name=REGION)
    statuses = {u["UserStatus"] for page in cognito.get_paginator("list_users").paginate(UserPoolId=target)
                for u in page["Users"]}
    assert "RESET_REQUIRED" in statuses

    mark = emulator.mark()
    run = run_import(conf)
    assert run.state == "success", task_states(run)
    assert_restored(REGION, backup["pool_id"], REGION, target)
    calls = cognito_calls(emulator.requests(since=mark))
    # Resumed: nothing created twice, nothing refused for existing already.
    assert not [c for c in calls if c["operation"] in ("AdminCreateUser", "CreateUserPool")]
    assert not [c for c in calls if c["outcome"] != "ok" and c["operation"] != "CreateGroup"]
    assert xcom_of(run, "groups.create")["groups_already_present"] == 8
    assert xcom_of(run, "users.create")["already_present"] == 120


def unrelated_pool(backup) -> str:
    target = compatible_pool(backup["pool_id"], REGION, REGION, "unrelated")
    cognito = boto3.client("cognito-idp", region_name=REGION)
    for name in ("stranger1", "stranger2", "stranger3"):
        cognito.admin_create_user(UserPoolId=target, Username=name, MessageAction="SUPPRESS")
    return target


BAD_INPUTS = {
    "pool_missing": (
        lambda b: {"target_user_pool_id": "us-east-1_Missing99"},
        "target.check", "target user pool us-east-1_Missing99 does not exist in us-east-1",
    ),
    "table_missing": (
        lambda b: {"backup_table": "no-such-backup", "create_target_pool": True},
        "read_backup", "backup table no-such-backup does not exist in us-east-1",
    ),
    "unrelated_users": (
        lambda b: {"target_user_pool_id": unrelated_pool(b)},
        "target.check", "it holds 3 users and 0 groups that are not in this backup",
    ),
    "custom_attribute_missing": (
        lambda b: {"target_user_pool_id": compatible_pool(b["pool_id"], REGION, REGION, "nodept", drop_custom="department")},
        "target.check", "custom attribute custom:department is missing from the target pool",
    ),
    "no_target": (
        lambda b: {},
        "check_params", "target_user_pool_id is required unless create_target_pool is true",
    ),
    "both_targets": (
        lambda b: {"target_user_pool_id": "us-east-1_Whatever1", "create_target_pool": True},
        "check_params", "give target_user_pool_id or create_target_pool, not both",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_any_write(emulator, backup, capfd, case):
    conf_of, failing_task, message = BAD_INPUTS[case]
    conf = {"backup_table": backup["table"], "table_region": REGION, **conf_of(backup)}
    capfd.readouterr()
    mark = emulator.mark()
    run = run_import(conf)
    assert run.state == "failed"
    states = task_states(run)
    assert states[failing_task] == "failed", states
    # What ran before the failure: only reads. The users strategy is chosen from the params
    # alongside the target check; it writes nothing either (nor does point_in_time without a
    # restore point: it names the backup table).
    ran = {"check_params": set(), "read_backup": {"check_params", "point_in_time"}}.get(
        failing_task, {"check_params", "point_in_time", "read_backup", "mode", "users.strategy"}
    )
    assert {t for t, s in states.items() if s == "success"} == ran
    assert writes(emulator.requests(since=mark)) == []
    assert message in capfd.readouterr().out


def test_malformed_pool_id_is_refused_by_the_param_schema(backup):
    try:
        from airflow.sdk.definitions.param import ParamValidationError
    except ImportError:  # Airflow 2.x
        from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="target_user_pool_id"):
        run_import({"backup_table": backup["table"], "table_region": REGION, "target_user_pool_id": "pool-1"})


def test_a_failure_is_notified_without_user_data(emulator, backup):
    topic, queue = topic_with_queue("failures", BACKUP_REGION)
    run = run_import({"backup_table": backup["table"], "table_region": REGION, "notification_topic_arn": topic})
    assert run.state == "failed"
    [note] = notifications(queue, BACKUP_REGION)
    assert note["Subject"] == "Cognito import failed"
    assert "task check_params failed" in note["Message"] and backup["table"] in note["Message"]
    assert not [s for s in _user_data(backup["pool_id"]) if s in note["Message"]]

