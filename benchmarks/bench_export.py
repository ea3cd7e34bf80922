"""`make bench-export`: the export's use of its Cognito budget, its DynamoDB cost, its memory.

Runs the real export DAG against `localaws` (50 ms per call, AWS's default Cognito quotas):
- under an Airflow scheduler with the LocalExecutor (parallelism 4), and with `dag.test()`
  (tasks one after another), at budgets of 10 and 30 calls per second, on 20,000 users in 200
  groups (each user in one group); first export and unchanged re-exports;
- DynamoDB request units of a first export, an unchanged re-export and a re-export after 1%
  of users changed, scaled to 500,000 users exported daily with one replica, in dollars;
- peak memory of one user-shard task, on 10,000 and 100,000 users.

Prints a Markdown table per part; `--out FILE` also writes them (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    AirflowStack,
    CpuMeter,
    airflow_cli,
    airflow_env,
    cognito_figures,
    dynamodb_units,
    markdown,
    publish,
)

from localaws.testing import Emulator  # noqa: E402

WORK = ROOT / ".bench"
REGION = "us-east-1"
TABLE = "bench-table"
DAG_ID = "cognito_export_bench"

# On-demand prices, us-east-1, from November 2024 (USD).
PRICE_WRU = 0.625 / 1e6  # write request unit
PRICE_RWRU = 0.625 / 1e6  # replicated write request unit, per replica Region
PRICE_RRU = 0.125 / 1e6  # read request unit
PRICE_GB_MONTH = 0.25 + 0.20  # storage + point-in-time recovery, per Region
ITEM_BYTES = 700  # measured average size of a user item in the seeded pool (order of magnitude)


def write_config(tps: float, pool_id: str, **extra) -> Path:
    path = WORK / "backups.yaml"
    entry = {"name": "bench", "user_pool_id": pool_id, "region": REGION, "table_name": TABLE,
             "cognito_tps": tps, "schedule": None, "retries": 0, **extra}
    path.write_text(yaml.safe_dump({"backups": [entry]}))
    return path


def dag_test(env: dict[str, str]) -> float:
    """One run with `airflow dags test` (tasks one after another, in one process)."""
    return airflow_cli(env, "dags", "test", DAG_ID, log_path=WORK / "dag-test.log")


def throughput(budgets: list[float], users: int, groups: int, repeats: int, modes: list[str]) -> list[dict]:
    rows = []
    for tps in budgets:
        for mode in modes:
            with Emulator.start(latency_ms=50, quotas="aws", request_log=str(WORK / f"requests-{tps:g}-{mode}.jsonl")) as aws:
                pool_id = aws.seed(REGION, users=users, groups=groups, one_group_each=True, seed=1)
                config = write_config(tps, pool_id)
                env = airflow_env(WORK / f"airflow-{mode}", aws.env(REGION), config)
                runs = []
                if mode == "scheduler":
                    with AirflowStack(env) as stack:
                        stack.wait_for_dag(DAG_ID)
                        for i in range(1 + repeats):
                            mark = aws.mark()
                            cpu = CpuMeter()
                            state, peaks = stack.run(DAG_ID, cpu=cpu)
                            assert state == "success", f"export run failed: see {env['AIRFLOW_HOME']}"
                            runs.append((between(aws, mark), peaks, cpu.seconds()))
                else:
                    airflow_cli(env, "db", "migrate")
                    for i in range(1 + repeats):
                        mark = aws.mark()
                        dag_test(env)
                        runs.append((between(aws, mark), {}, {}))
                for i, (records, peaks, cpu_s) in enumerate(runs):
                    figures = cognito_figures(records, tps)
                    rows.append({"budget": tps, "mode": mode, "run": "first" if i == 0 else "unchanged",
                                 **figures, "peak_task_mib": round(max(peaks.values()), 0) if peaks else None,
                                 **cpu_columns(cpu_s)})
                    print(rows[-1], flush=True)
                    if cpu_s:
                        print("  CPU seconds by process kind:", cpu_s, flush=True)
    return rows


def cpu_columns(cpu_s: dict[str, float]) -> dict[str, float | None]:
    """Host CPU seconds during a scheduler run, and the shortest time the host could do that in."""
    if not cpu_s:
        return {"host_cpu_s": None, "emulator_cpu_s": None, "airflow_cpu_s": None, "cpu_floor_s": None}
    total = sum(cpu_s.values())
    return {"host_cpu_s": round(total, 1), "emulator_cpu_s": cpu_s.get("emulator", 0.0),
            "airflow_cpu_s": round(total - cpu_s.get("emulator", 0.0), 1),
            "cpu_floor_s": round(total / (psutil.cpu_count() or 1), 1)}


def between(aws: Emulator, mark: int) -> list[dict]:
    """The request-log records from `mark` to now."""
    return aws.requests(since=mark)


def cost(users: int, groups: int) -> list[dict]:
    """Request units of three exports, scaled to 500,000 users, one group each, daily, one replica."""
    rows = []
    with Emulator.start(latency_ms=0, quotas="off", request_log=str(WORK / "requests-cost.jsonl")) as aws:
        pool_id = aws.seed(REGION, users=users, groups=groups, one_group_each=True, seed=2)
        config = write_config(50, pool_id, backup_regions=["us-west-2"])
        env = airflow_env(WORK / "airflow-cost", aws.env(REGION), config)
        airflow_cli(env, "db", "migrate")
        cognito = aws.client("cognito-idp", REGION)

        def measure(label: str) -> None:
            mark = aws.mark()
            dag_test(env)
            units = dynamodb_units(aws.requests(since=mark), TABLE)
            rows.append({"export": label, **units})
            print(rows[-1], flush=True)

        measure("first export")
        measure("re-export, no change")
        changed = 0
        for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
            for user in page["Users"]:
                if changed >= users // 100:
                    break
                cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=user["Username"],
                                                     UserAttributes=[{"Name": "given_name", "Value": f"Changed {changed}"}])
                changed += 1
        measure("re-export, 1% of users changed")
    return rows


def monthly_dollars(rows: list[dict], users: int) -> list[dict]:
    """Scale to 500,000 users, daily exports, one replica Region; compare with rewriting everything."""
    scale = 500_000 / users
    daily = {r["export"]: r for r in rows}
    out = []
    items_total = daily["first export"]["item_writes"]
    for label, r in [("no change, daily", daily["re-export, no change"]),
                     ("1% of users change daily", daily["re-export, 1% of users changed"])]:
        wcu = r["wcu"] * scale * 30
        rcu = r["rcu"] * scale * 30
        dollars = wcu * (PRICE_WRU + PRICE_RWRU) + rcu * PRICE_RRU
        out.append({"case": label, "wru_month": round(wcu), "rru_month": round(rcu),
                    "requests_usd_month": round(dollars, 2)})
    # The retired solution rewrote every item every day (no index: 1 WRU + 1 rWRU per item).
    rewrite = items_total * scale * 30
    out.append({"case": "rewrite every item daily (retired solution)", "wru_month": round(rewrite), "rru_month": 0,
                "requests_usd_month": round(rewrite * (PRICE_WRU + PRICE_RWRU), 2)})
    gb = 2 * 500_000 * ITEM_BYTES / 1e9  # users + memberships, order of magnitude
    out.append({"case": "storage + PITR, both Regions (any of the above)", "wru_month": 0, "rru_month": 0,
                "requests_usd_month": round(2 * gb * PRICE_GB_MONTH, 2)})
    return out


def shard_memory(pools: list[tuple[int, int]]) -> list[dict]:
    """Peak RSS of one user-shard task (`airflow tasks test`, its own process) per pool size and shard count."""
    rows = []
    with Emulator.start(latency_ms=0, quotas="off", request_log=str(WORK / "requests-memory.jsonl")) as aws:
        for users, shards in pools:
            aws.reset()
            pool_id = aws.seed(REGION, users=users, groups=10, seed=3)
            config = write_config(1000, pool_id, user_shards=shards, membership_chunks=1)
            env = airflow_env(WORK / "airflow-memory", aws.env(REGION), config)
            airflow_cli(env, "db", "migrate")
            airflow_cli(env, "tasks", "test", DAG_ID, "prepare")
            process = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "tasks", "test", DAG_ID,
                                        "users.shard", "--map-index", "0"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peak = 0.0
            tree = psutil.Process(process.pid)
            while process.poll() is None:
                try:
                    peak = max(peak, sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]) / 2**20)
                except psutil.NoSuchProcess:
                    pass
                time.sleep(0.05)
            rows.append({"pool_users": users, "shards": shards, "users_per_shard": users // shards,
                         "peak_rss_mib": round(peak)})
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--budgets", default="10,30")
    parser.add_argument("--repeats", type=int, default=2, help="unchanged re-exports after the first export")
    parser.add_argument("--parts", default="throughput,cost,memory")
    parser.add_argument("--modes", default="scheduler,dag.test", help="throughput runs: scheduler, dag.test or both")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    parts = args.parts.split(",")
    report = []
    if "throughput" in parts:
        modes = args.modes.split(",")
        rows = throughput([float(b) for b in args.budgets.split(",")], args.users, args.groups, args.repeats, modes)
        report.append(("Cognito budget use", markdown(rows)))
        summary = []
        for tps in {r["budget"] for r in rows}:
            for mode in modes:
                util = [r["utilisation"] for r in rows if r["budget"] == tps and r["mode"] == mode]
                summary.append({"budget": tps, "mode": mode, "median_utilisation": statistics.median(util),
                                "min": min(util), "runs": len(util)})
        report.append(("Utilisation, median of runs", markdown(summary)))
    if "cost" in parts:
        rows = cost(args.users, args.groups)
        report.append(("DynamoDB request units per export", markdown(rows)))
        report.append(("Monthly cost, 500,000 users in one group each, daily, one replica",
                       markdown(monthly_dollars(rows, args.users))))
    if "memory" in parts:
        report.append(("Peak memory of one user-shard task",
                       markdown(shard_memory([(10_000, 16), (100_000, 16), (100_000, 256)]))))
    text = "\n\n".join(f"### {title}\n\n{table}" for title, table in report)
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
