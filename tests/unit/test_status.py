"""`python -m cognito_backup status` against the emulator: what it reads from the manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_runs import write_backups_config
from cognito_backup import items
from cognito_backup.hooks.backup_table import BackupTableHook

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
COUNTS = {"users_written": 7, "users_deleted": 2, "users_unchanged": 140, "groups_written": 1,
          "memberships_written": 9, "memberships_deleted": 1, "throttled_calls": 3}


def status(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    return subprocess.run([sys.executable, "-m", "cognito_backup", "status", *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def backups(aws, tmp_path) -> Path:
    """Three backups: exported 5 hours ago (with the deletion guard's counts), never, and to a table
    that does not exist."""
    exported = BackupTableHook("status-exported", region_name=REGION)
    exported.create()
    exported.wait_until_active()
    exported_at = int((time.time() - 5 * 3600) * 1000)
    exported.put_manifest(items.Manifest(exported_at=exported_at, counts={**COUNTS, "users_held_back": 4},
                                         duration_seconds=61.2, user_pool_id="us-east-1_Exported"))
    never = BackupTableHook("status-never", region_name=REGION)
    never.create()
    never.wait_until_active()
    entries = [{"name": name, "user_pool_id": "us-east-1_Pool", "region": REGION, "table_name": f"status-{name}"}
               for name in ("exported", "never", "missing")]
    return write_backups_config(tmp_path / "backups.yaml", *entries)


def test_status_shows_each_backups_last_export(backups):
    done = status("--config", str(backups), "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["backup"]: row for row in json.loads(done.stdout)}
    exported = rows["exported"]
    assert exported["dag_id"] == "cognito_export_exported"
    assert exported["age_hours"] == pytest.approx(5, abs=0.05)
    assert (exported["users_written"], exported["users_deleted"], exported["users_held_back"]) == (7, 2, 4)
    assert (exported["memberships_written"], exported["groups_held_back"], exported["throttled_calls"]) == (9, 0, 3)
    assert exported["duration_seconds"] == 61.2
    assert rows["never"]["last_export"] is None and rows["never"]["problem"] == "no completed export"
    assert rows["missing"]["problem"] == "no table"

    text = status("--config", str(backups)).stdout
    lines = {line.split()[0]: line for line in text.splitlines()[1:4]}
    assert "5.0 h" in lines["exported"] and "7/2/4" in lines["exported"] and "61 s" in lines["exported"]
    assert "no completed export" in lines["never"] and "no table" in lines["missing"]


def test_stale_after_fails_on_old_or_missing_exports(backups):
    done = status("--config", str(backups), "--stale-after", "6")
    assert done.returncode == 1
    assert "never, missing" in done.stderr and "exported" not in done.stderr
    assert status("--config", str(backups), "--stale-after", "4").stderr.endswith("exported, never, missing\n")
