"""`python -m cognito_backup status`: the last completed export of each configured backup.

Read from the manifest item of each backup's table (its time, counts and duration, never user
data), through the backup's Airflow connection: it runs wherever the DAG files and that
connection do. With `--stale-after HOURS` it exits 1 when a backup's last export is older, or
missing, so that a cron job or a monitoring check can use it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.compat import conf
from cognito_backup.config import BackupConfig, ConfigError, load_backups
from cognito_backup.hooks.backup_table import BackupTableHook

KINDS = ("users", "groups", "memberships")
FIGURES = ("written", "deleted", "held_back")


def backup_status(cfg: BackupConfig, now: float) -> dict[str, Any]:
    """One backup's last completed export, as figures."""
    row: dict[str, Any] = {"backup": cfg.name, "dag_id": cfg.dag_id, "table": cfg.table_name, "region": cfg.region}
    hook = BackupTableHook(cfg.table_name, aws_conn_id=cfg.aws_conn_id, region_name=cfg.region, caller="status")
    try:
        manifest = hook.get_manifest()
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return {**row, "last_export": None, "problem": "no table"}
    if manifest is None:
        return {**row, "last_export": None, "problem": "no completed export"}
    counts = manifest.counts
    return {
        **row,
        "last_export": datetime.fromtimestamp(manifest.exported_at / 1000, timezone.utc).isoformat(timespec="seconds"),
        "age_hours": round((now - manifest.exported_at / 1000) / 3600, 2),
        "duration_seconds": round(manifest.duration_seconds, 1),
        **{f"{kind}_{figure}": counts.get(f"{kind}_{figure}", 0) for kind in KINDS for figure in FIGURES},
        "throttled_calls": counts.get("throttled_calls", 0),
    }


def render(rows: list[dict[str, Any]]) -> str:
    """An aligned text table: written/deleted/held back per kind."""
    header = ["backup", "table (region)", "last export (UTC)", "age", "users", "groups", "memberships",
              "throttled", "duration"]
    lines = [header]
    for row in rows:
        where = f"{row['table']} ({row['region']})"
        if row["last_export"] is None:
            lines.append([row["backup"], where, row["problem"], "", "", "", "", "", ""])
            continue
        lines.append([
            row["backup"], where, row["last_export"].replace("T", " ").removesuffix("+00:00"),
            f"{row['age_hours']:.1f} h",
            *("/".join(str(row[f"{kind}_{figure}"]) for figure in FIGURES) for kind in KINDS),
            str(row["throttled_calls"]), f"{row['duration_seconds']:.0f} s",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(text) + "\n\nusers, groups, memberships: written/deleted/held back in the last export\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cognito_backup", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="the last completed export of each configured backup")
    status.add_argument("--config", help="the backups file (default: as the export DAG file finds it)")
    status.add_argument("--json", action="store_true", help="one JSON object per backup, in a list")
    status.add_argument("--stale-after", type=float, metavar="HOURS",
                        help="exit 1 when a backup's last completed export is older, or missing")
    args = parser.parse_args(argv)

    try:
        backups = load_backups(args.config, dags_folder=conf.get("core", "dags_folder"))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    # Airflow's log handlers write to file descriptor 1: their lines go to stderr from here on,
    # stdout keeps the figures alone.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    now = time.time()
    rows = [backup_status(cfg, now) for cfg in backups]
    out.write(json.dumps(rows, indent=2) + "\n" if args.json else render(rows))
    out.flush()
    if args.stale_after is not None:
        stale = [r["backup"] for r in rows if r["last_export"] is None or r["age_hours"] > args.stale_after]
        if stale:
            print(f"stale (no completed export in {args.stale_after:g} h): {', '.join(stale)}", file=sys.stderr)
            return 1
    return 0
