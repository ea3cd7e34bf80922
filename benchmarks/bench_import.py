"""`make bench-import`: how much of its Cognito budget a restore uses, and its memory.

Seeds a pool (5,000 users each in one group, by default) in `localaws` at 50 ms per call with
AWS's default Cognito quotas, exports it, then triggers the real import DAG under an Airflow
scheduler (LocalExecutor, parallelism 4) into a new pool, at a budget of 25 calls per second.
For each run it reads the emulator's request log: Cognito calls, ideal seconds
(`(calls - 1) / budget`), measured seconds (first to last Cognito call), utilisation, the most
calls in any one second, and the peak resident memory of any task.

Prints a Markdown table; `--out FILE` also writes it (benchmarks/RESULTS.md quotes it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, AirflowStack, airflow_cli, airflow_env, cognito_figures, markdown  # noqa: E402

from localaws.testing import Emulator  # noqa: E402

WORK = ROOT / ".bench"
REGION = "us-east-1"
TABLE = "bench-import-table"
EXPORT_DAG = "cognito_export_bench"
IMPORT_DAG = "cognito_import"
REPORTS = "bench-import-reports"
# Any role ARN will do for the emulator; on AWS, the role Cognito's import jobs log with.
ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportLogs"


def drop_restored_pools(aws: Emulator, source_pool_id: str) -> None:
    """Delete earlier restores: `create_target_pool` would find its pool by name and resume."""
    cognito = aws.client("cognito-idp", REGION)
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        if pool["Id"] != source_pool_id:
            cognito.delete_user_pool(UserPoolId=pool["Id"])


def export_backup(aws: Emulator, users: int, groups: int) -> tuple[dict[str, str], str]:
    """Seed the pool and export it once (not measured); returns the Airflow environment and the pool id."""
    pool_id = aws.seed(REGION, users=users, groups=groups, one_group_each=True, seed=5)
    config = WORK / "bench-import-backups.yaml"
    config.write_text(yaml.safe_dump({"backups": [{
        "name": "bench", "user_pool_id": pool_id, "region": REGION, "table_name": TABLE,
        "cognito_tps": 25, "schedule": None, "retries": 0,
    }]}))
    env = airflow_env(WORK / "airflow-import", aws.env(REGION), config)
    env["AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN"] = ROLE_ARN
    airflow_cli(env, "db", "migrate")
    airflow_cli(env, "dags", "test", EXPORT_DAG, log_path=WORK / "bench-import-export.log")
    aws.client("s3", REGION).create_bucket(Bucket=REPORTS)
    return env, pool_id


def restore_runs(users: int, groups: int, tps: float, strategies: list[str], repeats: int) -> list[dict]:
    rows = []
    log = WORK / "requests-import.jsonl"
    log.unlink(missing_ok=True)
    with Emulator.start(latency_ms=50, quotas="aws", request_log=str(log)) as aws:
        env, source_pool_id = export_backup(aws, users, groups)
        with AirflowStack(env) as stack:
            stack.wait_for_dag(IMPORT_DAG)
            for strategy in strategies:
                for run in range(repeats):
                    conf = {"backup_table": TABLE, "table_region": REGION, "create_target_pool": True,
                            "strategy": strategy, "cognito_tps": tps,
                            "report_s3_uri": f"s3://{REPORTS}/{strategy}-{run}"}
                    drop_restored_pools(aws, source_pool_id)
                    mark = aws.mark()
                    state, peaks = stack.run(IMPORT_DAG, conf)
                    if state != "success":
                        raise SystemExit(f"import run failed: see {env['AIRFLOW_HOME']}")
                    records = aws.requests(since=mark)
                    operations = Counter(r["operation"] for r in records if r.get("service") == "cognito-idp")
                    rows.append({"strategy": strategy, "run": run + 1, "budget": tps,
                                 **cognito_figures(records, tps),
                                 "memberships_added": operations["AdminAddUserToGroup"],
                                 "users_created_one_by_one": operations["AdminCreateUser"],
                                 "peak_task_mib": round(max(peaks.values())) if peaks else None,
                                 "peak_task": max(peaks, key=peaks.get) if peaks else None})
                    print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--budget", type=float, default=25)
    parser.add_argument("--strategies", default="csv_import", help="comma-separated: csv_import,admin_create")
    parser.add_argument("--repeats", type=int, default=3, help="restores per strategy, each into a new pool")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    rows = restore_runs(args.users, args.groups, args.budget, args.strategies.split(","), args.repeats)
    summary = [{"strategy": s, "median_utilisation": statistics.median(r["utilisation"] for r in rows if r["strategy"] == s),
                "min": min(r["utilisation"] for r in rows if r["strategy"] == s),
                "runs": sum(r["strategy"] == s for r in rows)} for s in dict.fromkeys(r["strategy"] for r in rows)]
    text = (f"### Restore: Cognito budget use ({args.users:,} users in {args.groups} groups, budget {args.budget:g})\n\n"
            f"{markdown(rows)}\n\n### Utilisation, median of runs\n\n{markdown(summary)}")
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
