"""Helpers of the export DAG's tests: run `cognito_export_t` on a pool, compare table and pool."""

from __future__ import annotations

from airflow_runs import run_dag, write_backups_config
from backup_state import backup_state, pool_state, table_items
from cognito_backup import items

REGION = "us-east-1"
TABLE = "cognito-backup-test"


def entry(pool_id: str, **extra):
    return {"name": "t", "user_pool_id": pool_id, "region": REGION, "table_name": TABLE,
            "cognito_tps": 25, "retries": 0, **extra}


def export(tmp_path, pool_id: str, conf=None, **extra):
    write_backups_config(tmp_path / "backups.yaml", entry(pool_id, **extra))
    return run_dag("cognito_export_t", conf)


def written_keys(records) -> set[tuple[str, str]]:
    """(id, type) of every backup item written or deleted, bookkeeping items aside."""
    keys = set()
    for r in records:
        for item_id, item_type in r.get("writes") or []:
            if items.kind_of({"type": item_type}) in (items.USER, items.GROUP, items.MEMBERSHIP):
                keys.add((item_id, item_type))
    return keys


def assert_exact(pool_id: str) -> dict:
    state = backup_state(table_items(REGION, TABLE))
    assert state == pool_state(REGION, pool_id)
    return state
