"""`make bench-import`: how much of its Cognito budget a restore uses, and its memory.

Seeds a pool (5,000 users each in one group, by default) in `localaws` at 50 ms per call with
AWS's default Cognito quotas, exports it, then triggers the real import DAG under an Airflow
scheduler (LocalExecutor, parallelism 4) into a new pool: at a budget of 25 calls per second
for all calls (`cognito_tps`), then with a budget per quota category, a share of 1.0 of AWS's
default quotas (`cognito_quota_share`). For each run it reads the emulator's request log.

- One budget: Cognito calls, ideal seconds (`(calls - 1) / budget`), measured seconds (first
  to last Cognito call: the Cognito-bound span), utilisation, the most calls in any one second,
  and the peak resident memory of any task.
- A budget per category: for each category its calls, its budget (share x quota), ideal seconds
  (calls / budget) and the most calls in any one second; the run's measured seconds against the
  largest ideal (the category that bounds the restore; target: at most 1.15x).
- Restore times estimated for 10,000, 100,000 and 500,000 users each in one group at the default
  quotas: each category's calls per user in the share run, times the users, over its quota; the
  largest is the estimate (the Cognito-bound floor), its category the bottleneck.

Prints Markdown tables; `--out FILE` also writes them (benchmarks/RESULTS.md quotes them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    AIRFLOW_CPUS,
    EMULATOR_CPUS,
    ROOT,
    AirflowStack,
    airflow_cli,
    airflow_env,
    cognito_figures,
    markdown,
    publish,
)

from localaws.quotas import RATES as QUOTAS  # noqa: E402
from localaws.testing import Emulator  # noqa: E402

WORK = ROOT / ".bench"
REGION = "us-east-1"
TABLE = "bench-import-table"
EXPORT_DAG = "cognito_export_bench"
IMPORT_DAG = "cognito_import"
REPORTS = "bench-import-reports"
# Any role ARN will do for the emulator; on AWS, the role Cognito's import jobs log with.
ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportLogs"
ESTIMATED_USERS = (10_000, 100_000, 500_000)


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


def budgets(tps: float, shares: list[float]) -> list[tuple[str, dict]]:
    """(label, import params) of each budget measured."""
    found = [(f"tps {tps:g}", {"cognito_tps": tps})] if tps else []
    return found + [(f"share {share:g}", {"cognito_tps": None, "cognito_quota_share": share}) for share in shares]


def category_figures(records: list[dict], share: float) -> tuple[list[dict], dict]:
    """Per category: calls, budget, ideal seconds, the most calls in 1 s; and the run's row."""
    calls = [r for r in records if r.get("service") == "cognito-idp"]
    rows = []
    for category in sorted({r["category"] for r in calls}):
        budget = share * QUOTAS[category]
        figures = cognito_figures([r for r in calls if r["category"] == category], budget)
        rows.append({"category": category, "calls": figures["calls"], "category_budget": round(budget, 2),
                     "ideal_s": round(figures["calls"] / budget, 1), "max_calls_in_1s": figures["max_calls_in_1s"]})
    largest = max(rows, key=lambda r: r["ideal_s"])
    measured = cognito_figures(calls, 1)["measured_s"]
    return rows, {"calls": sum(r["calls"] for r in rows), "bound_by": largest["category"],
                  "largest_ideal_s": largest["ideal_s"], "measured_s": measured,
                  "measured_over_largest": round(measured / largest["ideal_s"], 3),
                  "throttled": sum(r["outcome"] == "throttled" for r in calls)}


def estimates(per_category: list[dict], users: int) -> list[dict]:
    """Restore times at the default quotas, from the calls per user of each category in a run."""
    rows = []
    for n in ESTIMATED_USERS:
        seconds = {r["category"]: r["calls"] / users * n / QUOTAS[r["category"]] for r in per_category}
        bound = max(seconds, key=seconds.get)
        calls = sum(r["calls"] for r in per_category) / users * n
        rows.append({"users": f"{n:,}", "cognito_calls": f"{calls:,.0f}", "bound_by": bound,
                     "minutes_at_default_quotas": round(seconds[bound] / 60, 1),
                     "minutes_at_10_calls_per_s": round(calls / 10 / 60, 1)})
    return rows


def restore_runs(users: int, groups: int, tps: float, shares: list[float], strategies: list[str],
                 repeats: int, pinned: bool = False) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows of the runs with one budget, of those with a budget per category, and the per-category rows."""
    rows, share_rows, category_rows = [], [], []
    log = WORK / "requests-import.jsonl"
    log.unlink(missing_ok=True)
    if pinned:
        os.sched_setaffinity(0, {int(AIRFLOW_CPUS)})  # this process samples, on Airflow's core
    with Emulator.start(latency_ms=50, quotas="aws", request_log=str(log), cpus=EMULATOR_CPUS if pinned else None) as aws:
        env, source_pool_id = export_backup(aws, users, groups)
        with AirflowStack(env, cpus=AIRFLOW_CPUS if pinned else None) as stack:
            stack.wait_for_dag(IMPORT_DAG)
            for label, params in budgets(tps, shares):
                for strategy in strategies:
                    for run in range(repeats):
                        conf = {"backup_table": TABLE, "table_region": REGION, "create_target_pool": True,
                                "strategy": strategy, **params,
                                "report_s3_uri": f"s3://{REPORTS}/{label.replace(' ', '-')}-{strategy}-{run}"}
                        drop_restored_pools(aws, source_pool_id)
                        mark = aws.mark()
                        state, peaks = stack.run(IMPORT_DAG, conf)
                        if state != "success":
                            raise SystemExit(f"import run failed: see {env['AIRFLOW_HOME']}")
                        records = aws.requests(since=mark)
                        operations = Counter(r["operation"] for r in records if r.get("service") == "cognito-idp")
                        row = {"budget": label, "strategy": strategy, "run": run + 1}
                        if "cognito_quota_share" in params:
                            per_category, figures = category_figures(records, params["cognito_quota_share"])
                            category_rows += [{**row, **r} for r in per_category]
                            row.update(figures)
                        else:
                            row.update(cognito_figures(records, tps))
                        row.update({"memberships_added": operations["AdminAddUserToGroup"],
                                    "users_created_one_by_one": operations["AdminCreateUser"],
                                    "peak_task_mib": round(max(peaks.values())) if peaks else None,
                                    "peak_task": max(peaks, key=peaks.get) if peaks else None})
                        (share_rows if "cognito_quota_share" in params else rows).append(row)
                        print(row, flush=True)
    return rows, share_rows, category_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--budget", type=float, default=25, help="cognito_tps of the one-budget runs (0: none)")
    parser.add_argument("--shares", default="1.0", help="comma-separated cognito_quota_share runs ('' for none)")
    parser.add_argument("--strategies", default="csv_import", help="comma-separated: csv_import,admin_create")
    parser.add_argument("--repeats", type=int, default=3, help="restores per budget and strategy, each into a new pool")
    parser.add_argument("--pinned", action="store_true",
                        help="the emulator on core 1, Airflow and this script on core 0 (AWS is not on the worker's CPU)")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    shares = [float(s) for s in args.shares.split(",") if s.strip()]
    rows, share_rows, category_rows = restore_runs(
        args.users, args.groups, args.budget, shares, args.strategies.split(","), args.repeats, args.pinned)
    pool = f"{args.users:,} users in {args.groups} groups"
    sections = []
    if rows:
        summary = [{"strategy": s, "median_utilisation": statistics.median(r["utilisation"] for r in rows if r["strategy"] == s),
                    "min": min(r["utilisation"] for r in rows if r["strategy"] == s),
                    "runs": sum(r["strategy"] == s for r in rows)} for s in dict.fromkeys(r["strategy"] for r in rows)]
        sections += [f"### Restore: Cognito budget use ({pool}, budget {args.budget:g})\n\n{markdown(rows)}",
                     f"### Utilisation, median of runs\n\n{markdown(summary)}"]
    if share_rows:
        sections += [f"### Restore with a budget per quota category ({pool})\n\n{markdown(share_rows)}",
                     f"### Calls per quota category\n\n{markdown(category_rows)}"]
        first = share_rows[0]
        mix = [r for r in category_rows if (r["budget"], r["strategy"], r["run"]) == (first["budget"], first["strategy"], 1)]
        sections.append(f"### Estimated restore times, each user in one group, at the default quotas "
                        f"(calls per user of {first['budget']}, {first['strategy']} run 1)\n\n{markdown(estimates(mix, args.users))}")
    publish("\n\n".join(sections), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
