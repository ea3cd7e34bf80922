"""Helpers of the import DAG's tests: run `cognito_import`, make target pools, compare pools."""

from __future__ import annotations

from typing import Any

import boto3

from airflow_runs import load_dag, run_dag, task_states, write_backups_config, xcom_model
from backup_state import pool_state
from cognito_backup import pool

REGION = "us-east-1"
BACKUP_REGION = "us-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportLogs"
LEGACY = "custom:legacy_sub"
# Every Cognito and DynamoDB operation that only reads.
READ_PREFIXES = ("Describe", "List", "Get", "AdminGet", "Query", "Scan", "BatchGet", "Head")


def export(tmp_path, name: str, pool_id: str, region: str = REGION, conf: dict[str, Any] | None = None, **extra: Any):
    """Back `pool_id` up to table `import-<name>` with the export DAG; return the table name."""
    table = f"import-{name}"
    write_backups_config(tmp_path / f"{name}.yaml", {
        "name": name, "user_pool_id": pool_id, "region": region, "table_name": table, "schedule": None,
        "cognito_tps": 200, "retries": 0, "user_shards": 1, "membership_chunks": 1, **extra,
    })
    run = run_dag(f"cognito_export_{name}", conf)
    assert run.state == "success", task_states(run)
    return table


def run_import(conf: dict[str, Any], retries: int = 0):
    """One run of `cognito_import` with `dag.test()`; tasks get `retries` (0: a failure ends the run)."""
    dag = load_dag("cognito_import")
    for task in dag.tasks:
        task.retries = retries
    return dag.test(run_conf={"cognito_tps": 200, **conf})


def compatible_pool(source_pool_id: str, source_region: str, region: str, name: str,
                    legacy: str | None = LEGACY, drop_custom: str | None = None) -> str:
    """A new empty pool made like the source (the operator's job when not create_target_pool)."""
    source = boto3.client("cognito-idp", region_name=source_region).describe_user_pool(UserPoolId=source_pool_id)["UserPool"]
    kwargs = pool.create_pool_kwargs(pool.snapshot(source), name, legacy)
    if drop_custom:
        kwargs["Schema"] = [a for a in kwargs["Schema"] if a["Name"] != drop_custom]
    return boto3.client("cognito-idp", region_name=region).create_user_pool(**kwargs)["UserPool"]["Id"]


def assert_restored(source_region: str, source_pool_id: str, target_region: str, target_pool_id: str,
                    legacy: str | None = LEGACY) -> dict[str, Any]:
    """The target holds the source pool's users (by pseudo-username), groups and memberships, exactly."""
    source = pool_state(source_region, source_pool_id, with_sub=False)
    old_subs = {u["pseudo_username"]: sub for sub, u in pool_state(source_region, source_pool_id)["users"].items()}
    return assert_matches(source, pool_state(target_region, target_pool_id, with_sub=False), old_subs, legacy)


def assert_matches(expected: dict[str, Any], target: dict[str, Any], old_subs: dict[str, str] | None = None,
                   legacy: str | None = None, unreset: str = "CONFIRMED") -> dict[str, Any]:
    """`target` (a `pool_state` without subs) is the restore of `expected` (a pool's or a backup's state).

    Restored users: every attribute but `sub` equal, the same enabled flag, status RESET_REQUIRED
    (`unreset`, CONFIRMED in a new pool, FORCE_CHANGE_PASSWORD in a live one, only for a user
    without a verified email or phone number: Cognito refuses to reset those), the old sub in the
    legacy attribute when there is one.
    """
    assert set(target["users"]) == set(expected["users"])
    refused = 0
    for key, want in expected["users"].items():
        got = target["users"][key]
        attrs = dict(got["attributes"])
        if legacy:
            assert attrs.pop(legacy) == old_subs[key]
        assert attrs == want["attributes"], key
        assert got["enabled"] == want["enabled"]
        verified = any(want["attributes"].get(f) == "true" for f in ("email_verified", "phone_number_verified"))
        assert got["status"] == "RESET_REQUIRED" or (got["status"] == unreset and not verified), got["status"]
        refused += got["status"] == unreset
    assert target["groups"] == expected["groups"]
    assert target["memberships"] == expected["memberships"]
    return {"users": len(expected["users"]), "groups": len(expected["groups"]),
            "memberships": len(expected["memberships"]), "reset_refused": refused}


def writes(records: list[dict[str, Any]]) -> list[str]:
    """Operations of the request log that are not reads."""
    return sorted({f"{r['service']}:{r['operation']}" for r in records if not r["operation"].startswith(READ_PREFIXES)})


def xcom_of(run, task_id: str, key: str = "return_value") -> Any:
    from airflow.utils.session import create_session

    XComModel, value_of = xcom_model()
    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id,
            XComModel.task_id == task_id, XComModel.key == key,
        ).order_by(XComModel.map_index).all()
        values = [value_of(r) for r in rows]
    return values[0] if len(values) == 1 else values


def all_xcom_text(run) -> str:
    from airflow.utils.session import create_session

    XComModel, value_of = xcom_model()
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id).all()
        return "\n".join(repr(value_of(r)) for r in rows)


__all__ = [
    "BACKUP_REGION", "LEGACY", "REGION", "ROLE_ARN", "all_xcom_text", "assert_matches", "assert_restored", "compatible_pool",
    "export", "run_import", "task_states", "writes", "xcom_of",
]
