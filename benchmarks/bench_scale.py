"""`make bench-scale`: exports and a restore of 100,000-user pools under an Airflow scheduler.

The rig keeps AWS off Airflow's CPU, as in production: the `localaws` emulator (50 ms a call,
AWS's default Cognito quotas) on core 1, every Airflow process (api-server, scheduler,
dag-processor, the LocalExecutor's task processes) on core 0 (`--unpinned`: both anywhere). Airflow
runs with the test stacks' quick scheduler loop, DAG refresh and heartbeat (tests/airflow_stack.py),
or with Airflow's own defaults (`--airflow-defaults`), which take less CPU a second while a run goes.
A fixed CPU-bound workload (benchmarks/reference.py) is timed on Airflow's core before and after
each run and, a slice every few seconds, during it: CPU figures also come relative to the time
during the run (`reference_s`), and so compare across days and machines; before and after show
how far the host's speed moved.

Parts (`--parts`, all but `restore-memory` by default):
- `small`: a 2,000-user pool exported with the default config (its task count), and a 3,000-user
  pool in 50 groups at a budget of 10 (its wall time).
- `exports`: for each scale (`--scales`, 20,000 and 100,000 users, each in one of `users / 100`
  groups): at each budget (`--budgets`), the first export into a new table, an unchanged export,
  and an export after 1% of the users changed (attributes, deletions, new users, membership moves).
- `baseline`: the first and an unchanged export of the largest scale at the highest budget by
  another commit's code (`--baseline`, a work tree made with `git worktree`), for CPU per user.
- `paired`: the same two exports by this code and by the baseline's, in alternating rounds
  (this, baseline, baseline, this, ...; `--rounds`), each into a new table, each stack running
  only for its own round: CPU ratios from runs minutes apart, the host's drift between them
  cancelled by the order, medians over the rounds.
- `restore`: the largest table restored (`csv_import`) into a new pool at `--restore-budget`; and
  the smallest scale's, for memory (`--restore-scales` to choose).
- `restore-memory`: for each scale, a restore with Cognito's quotas off in the emulator and a
  budget of `--memory-budget`: peak task memory against the pool's size (the rate does not change
  it), in minutes where a restore of 100,000 users at AWS's quotas takes an hour and a half.
- `dagstest`: a first export of the smallest scale under `airflow dags test` (one process, as a
  new user tries it), for its listing calls.

Per run: wall time (the DAG run), Cognito calls and ListUsers calls against full pages,
utilisation of the budget (first to last Cognito call), the busiest second, the longest gap between
two Cognito calls, the emulator's own pauses (`localaws.stalls`: its longest, and the requests it
took over a second to answer) and the host's steal time, which tell a gap of the clients from a
pause of the emulator or of the whole virtual machine, Airflow CPU-seconds
per 1,000 users raw and relative to the reference (all of Airflow; the task processes alone; and
what the run added to an idle Airflow, whose CPU a second is measured for 10 s before the run),
peak task memory, DynamoDB request units.
Then projections to 500,000 and 5,000,000 users beside the retired solution's published times.

    python benchmarks/bench_scale.py --out .bench/scale-results.md
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from operator import itemgetter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    AIRFLOW_CPUS,
    EMULATOR_CPUS,
    ROOT,
    AirflowStack,
    CpuMeter,
    airflow_cli,
    airflow_env,
    cognito_figures,
    dynamodb_units,
    idle_airflow_cpu,
    markdown,
    publish,
    steal_seconds,
)
from reference import ReferenceProbe, reference_seconds  # noqa: E402

from localaws import requestlog  # noqa: E402
from localaws.testing import Emulator  # noqa: E402

WORK = ROOT / ".bench" / "scale"
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportLogs"
REPORTS = "bench-scale-reports"
# On-demand prices, us-east-1 (USD), as in bench_export.py.
PRICE_WRU = PRICE_RWRU = 0.625 / 1e6
PRICE_RRU = 0.125 / 1e6
# The retired AWS solution's published run times at its budget of 10 calls a second (minutes).
RETIRED = {100_000: {"export": 21.82, "import": 56.31}, 500_000: {"export": 181.46, "import": 1313.31}}


class Rig:
    """One emulator and, per configuration, one Airflow stack on the rig's cores."""

    # What the test stacks set to notice changes quickly (airflow_env), at the cost of CPU every
    # second: the scheduler's idle loop 5 times a second (1 by default), DAG bundles refreshed
    # every 5 s (300), a task's heartbeat every second (5).
    RESPONSIVE = ("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL",
                  "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL")

    def __init__(self, pinned: bool, airflow_defaults: bool = False) -> None:
        self.pinned = pinned
        self.airflow_defaults = airflow_defaults
        self.log = WORK / f"requests-{'pinned' if pinned else 'unpinned'}.jsonl"
        self.log.unlink(missing_ok=True)
        self.stalls = WORK / f"stalls-{'pinned' if pinned else 'unpinned'}.jsonl"
        self.stalls.unlink(missing_ok=True)
        self.aws = Emulator.start(latency_ms=50, quotas="aws", request_log=str(self.log), stall_log=str(self.stalls),
                                  cpus=EMULATOR_CPUS if pinned else None, timeout=120)
        self.stacks: dict[str, tuple[AirflowStack, Path]] = {}

    def stack(self, key: str, entries: list[dict], code: Path = ROOT) -> AirflowStack:
        """The Airflow stack of `key` (started once), with `entries` as its backups file."""
        config = WORK / f"{key}.yaml"
        config.write_text(yaml.safe_dump({"backups": entries}))
        if key not in self.stacks:
            env = airflow_env(WORK / f"airflow-{key}", self.aws.env(REGION), config, code=code)
            if self.airflow_defaults:
                for name in self.RESPONSIVE:
                    del env[name]
            env["AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN"] = ROLE_ARN
            stack = AirflowStack(env, cpus=AIRFLOW_CPUS if self.pinned else None).__enter__()
            self.stacks[key] = (stack, config)
            for entry in entries:
                stack.wait_for_dag(f"cognito_export_{entry['name']}")
            stack.wait_for_dag("cognito_import")
        return self.stacks[key][0]

    def measure(self, stack: AirflowStack, dag_id: str, users: int, budget: float, conf: dict | None = None,
                **labels) -> dict:
        """One measured run: figures from the request log, the host's CPU and the tasks' memory."""
        cores = AIRFLOW_CPUS if self.pinned else None
        before = reference_seconds(cores)
        idle = idle_airflow_cpu()
        mark = self.aws.mark()
        cpu = CpuMeter()
        began, steal = time.time(), steal_seconds()
        with ReferenceProbe(cores) as during:
            state, peaks = stack.run(dag_id, conf, timeout=6 * 3600, cpu=cpu)
        ended, steal = time.time(), steal_seconds() - steal
        wall = stack.run_seconds(dag_id, stack.last_run_id)
        # Timed again after the run, and during it: the host's speed drifts within a run too. The
        # CPU figures are relative to the reference timed during the run (the mean of before and
        # after when the run was too short for a slice); before and after show the drift.
        after = reference_seconds(cores)
        reference = during.seconds() or round((before + after) / 2, 3)
        if state != "success":
            raise SystemExit(f"{dag_id} failed: see {stack.home}")
        records = self.aws.requests(since=mark)
        seconds = cpu.seconds()
        airflow_cpu = sum(v for k, v in seconds.items() if k != "emulator")
        # What the run added to an idle Airflow's CPU over as long as it lasted.
        run_cpu = airflow_cpu - idle * (cpu.window[1] - cpu.window[0])
        tables = {r.get("table") for r in records if r.get("service") == "dynamodb"} - {None}
        units = {"rcu": 0.0, "wcu": 0.0}
        for table in tables:
            found = dynamodb_units(records, table)
            units["rcu"] += found["rcu"]
            units["wcu"] += found["wcu"]
        row = {
            **labels, "users": users, "budget": budget, "pinned": self.pinned, "wall_s": round(wall, 1),
            **call_figures(records, users, budget),
            "airflow_cpu_s": round(airflow_cpu, 1), "emulator_cpu_s": seconds.get("emulator", 0.0),
            "cpu_s_per_1000": round(airflow_cpu / users * 1000, 3), "reference_s": reference,
            "reference_before_s": before, "reference_after_s": after,
            "rel_cpu_per_1000": round(airflow_cpu / users * 1000 / reference, 3),
            "idle_airflow_cpu_per_s": round(idle, 3), "run_cpu_s": round(run_cpu, 1),
            "rel_run_cpu_per_1000": round(run_cpu / users * 1000 / reference, 3),
            # The task processes alone: what the code run costs, without the scheduler, api-server,
            # dag-processor and triggerer, which take CPU for as long as the run lasts, busy or not.
            "task_cpu_s": seconds.get("tasks", 0.0),
            "rel_task_cpu_per_1000": round(seconds.get("tasks", 0.0) / users * 1000 / reference, 3),
            "peak_task_mib": round(max(peaks.values())) if peaks else None,
            "tasks": stack.tasks_run(dag_id, stack.last_run_id), "rcu": round(units["rcu"], 1),
            "wcu": round(units["wcu"], 1), **stall_figures(self.stalls, began, ended),
            "steal_s": round(steal, 2),
        }
        print(row, seconds, flush=True)
        return row

    def done(self, key: str) -> None:
        """Stop the stack of `key`: an idle Airflow (scheduler, api-server, dag-processor) would
        still take CPU from the core the next runs are measured on, and count in their figures."""
        stack, _ = self.stacks.pop(key)
        stack.__exit__(None, None, None)

    def close(self) -> None:
        for stack, _ in self.stacks.values():
            stack.__exit__(None, None, None)
        self.aws.stop()


def stall_figures(path: Path, began: float, ended: float) -> dict:
    """The emulator's own pauses during a run (`localaws.stalls`): its longest, and the requests
    it took over a second to answer. A gap between calls with neither was the clients' own."""
    found = [f for f in requestlog.read(str(path)) if began <= f["time"] <= ended] if path.exists() else []
    return {"emulator_late_s": max((f["seconds"] for f in found if f["kind"] == "late"), default=0.0),
            "emulator_slow_requests": len({(f["operation"], round(f["time"] - f["age"], 1))
                                           for f in found if f["kind"] == "slow"})}


def call_figures(records: list[dict], users: int, budget: float) -> dict:
    """A run's Cognito calls from the request log: ListUsers calls against full pages, use of the budget."""
    figures = cognito_figures(records, budget)
    operations = Counter(r["operation"] for r in records if r.get("service") == "cognito-idp" and r["outcome"] == "ok")
    return {"calls": figures.get("calls"), "list_users_calls": operations["ListUsers"],
            "full_pages": math.ceil(users / 60), "utilisation": figures.get("utilisation"),
            "busiest_1s": figures.get("max_calls_in_1s"), "throttled": figures.get("throttled"),
            "longest_gap_s": figures.get("longest_gap_s")}


def entry(name: str, pool_id: str, table: str, budget: float, **extra) -> dict:
    return {"name": name, "user_pool_id": pool_id, "region": REGION, "table_name": table, "cognito_tps": budget,
            "schedule": None, "retries": 2, **extra}


def change_one_percent(aws: Emulator, pool_id: str, users: int, seed: int) -> None:
    """1% of the users: 40% of those get a new attribute value, 25% are deleted, as many new users
    come, and 10% move to another group."""
    cognito = aws.client("cognito-idp", REGION, retries={"mode": "standard", "max_attempts": 20})
    rng = random.Random(seed)
    wanted = users // 100
    listed = [u for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id, PaginationConfig={"PageSize": 60})
              for u in page["Users"] if u["UserStatus"] != "EXTERNAL_PROVIDER"]
    chosen = rng.sample(listed, wanted)
    groups = [g["GroupName"] for page in cognito.get_paginator("list_groups").paginate(UserPoolId=pool_id) for g in page["Groups"]]
    changes, deletions, moves = chosen[: wanted * 40 // 100], chosen[wanted * 40 // 100: wanted * 65 // 100], chosen[wanted * 65 // 100: wanted * 75 // 100]
    for i, user in enumerate(changes):
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=user["Username"],
                                             UserAttributes=[{"Name": "given_name", "Value": f"Changed {seed}-{i}"}])
    for user in deletions:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=user["Username"])
    for i in range(len(deletions)):
        cognito.admin_create_user(UserPoolId=pool_id, Username=f"new-{seed}-{i}", MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": f"new-{seed}-{i}@example.com"}])
    for user in moves:
        for group in cognito.admin_list_groups_for_user(UserPoolId=pool_id, Username=user["Username"])["Groups"]:
            cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username=user["Username"], GroupName=group["GroupName"])
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=user["Username"], GroupName=rng.choice(groups))


def small(rig: Rig) -> list[dict]:
    rows = []
    for users, groups, budget, label in ((2_000, 20, 10, "2,000 users, default config"),
                                         (3_000, 50, 10, "3,000 users in 50 groups")):
        pool_id = rig.aws.seed(REGION, users=users, groups=groups, one_group_each=True, seed=users)
        name = f"small{users}"
        stack = rig.stack(name, [entry(name, pool_id, f"scale-{name}", budget)])
        rows.append(rig.measure(stack, f"cognito_export_{name}", users, budget, part=label, run="first"))
        rows.append(rig.measure(stack, f"cognito_export_{name}", users, budget, part=label, run="unchanged"))
        rig.done(name)
    return rows


def exports(rig: Rig, scales: list[int], budgets: list[float], first_only: set[float] = frozenset()
            ) -> tuple[list[dict], dict[int, tuple[str, str]]]:
    """Rows, and per scale its pool and the table of the last budget (for the restore). At the
    budgets of `first_only`, only the first export."""
    rows, backups = [], {}
    for users in scales:
        pool_id = rig.aws.seed(REGION, users=users, groups=users // 100, one_group_each=True, seed=7)
        for budget in budgets:
            name = f"scale{users // 1000}k_{budget:g}"
            table = f"scale-{name}"
            stack = rig.stack(name, [entry(name, pool_id, table, budget)])
            dag = f"cognito_export_{name}"
            rows.append(rig.measure(stack, dag, users, budget, part="export", run="first"))
            backups[users] = (pool_id, table)
            if budget not in first_only:
                rows.append(rig.measure(stack, dag, users, budget, part="export", run="unchanged"))
                change_one_percent(rig.aws, pool_id, users, seed=int(budget))
                rows.append(rig.measure(stack, dag, users, budget, part="export", run="1% changed"))
            rig.done(name)
    return rows, backups


def baseline_tree(revision: str) -> Path:
    """A git work tree of another commit's code (made once)."""
    tree = WORK / f"baseline-{revision}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True)
    return tree


def baseline(rig: Rig, users: int, budget: float, revision: str) -> list[dict]:
    """The same exports by another commit's code, from a git work tree of it."""
    tree = baseline_tree(revision)
    pool_id = rig.aws.seed(REGION, users=users, groups=users // 100, one_group_each=True, seed=7)
    name = "baseline"
    old_entry = {k: v for k, v in entry(name, pool_id, "scale-baseline", budget).items()}
    stack = rig.stack(name, [old_entry], code=tree)
    rows = [rig.measure(stack, f"cognito_export_{name}", users, budget, part=f"export, code {revision}", run=run)
            for run in ("first", "unchanged")]
    rig.done(name)
    return rows


def paired(rig: Rig, users: int, budget: float, revision: str, rounds: int) -> tuple[list[dict], list[dict]]:
    """A first and an unchanged export by this code and by `revision`'s, round after round in the
    order this, baseline, baseline, this, ...: rows, and the CPU ratios of each pair of rounds."""
    codes = {"this": ROOT, revision: baseline_tree(revision)}
    pool_id = rig.aws.seed(REGION, users=users, groups=users // 100, one_group_each=True, seed=7)
    order = [("this", revision)[(i + 1) // 2 % 2] for i in range(2 * rounds)]
    rows = []
    for number, label in enumerate(order):
        name = f"paired{number}"
        stack = rig.stack(name, [entry(name, pool_id, f"scale-{name}", budget)], code=codes[label])
        part = "export, paired" if label == "this" else f"export, paired, code {revision}"
        rows += [rig.measure(stack, f"cognito_export_{name}", users, budget, part=part, run=run)
                 for run in ("first", "unchanged")]
        rig.done(name)
    ratios = []
    for run in ("first", "unchanged"):
        mine = [r for r in rows if r["run"] == run and r["part"] == "export, paired"]
        theirs = [r for r in rows if r["run"] == run and r["part"] != "export, paired"]
        readings = {key: itemgetter(key) for key in ("rel_task_cpu_per_1000", "rel_run_cpu_per_1000", "rel_cpu_per_1000")}
        # Cross-checks of the reference timed during the run: the task CPU relative to the mean
        # of the reference before and after (the earlier passes' reading), and to the emulator's
        # CPU, which served both codes' runs the same pool and the same items on the other core.
        readings["task_cpu over the reference before and after"] = (
            lambda r: r["task_cpu_s"] / (r["reference_before_s"] + r["reference_after_s"]))
        readings["task_cpu over the emulator's cpu"] = lambda r: r["task_cpu_s"] / r["emulator_cpu_s"]
        for name, reading in readings.items():
            each = [round(reading(a) / reading(b), 3) for a, b in zip(mine, theirs)]
            ratios.append({"run": run, "reading": name, "ratios": ", ".join(map(str, each)),
                           "median": round(statistics.median(each), 3)})
    return rows, ratios


def restore(rig: Rig, users: int, pool_id: str, table: str, budget: float, name: str = "restore",
            part: str = "restore") -> dict:
    name = f"{name}{users // 1000}k"
    stack = rig.stack(name, [entry(name, pool_id, table, budget)])
    rig.aws.client("s3", REGION).create_bucket(Bucket=REPORTS)  # the owner's repeat is a no-op in us-east-1
    conf = {"backup_table": table, "table_region": REGION, "create_target_pool": True, "strategy": "csv_import",
            "cognito_tps": budget, "report_s3_uri": f"s3://{REPORTS}/{name}"}
    row = rig.measure(stack, "cognito_import", users, budget, conf=conf, part=part, run="csv_import")
    rig.done(name)
    return row


def restore_memory(rig: Rig, scales: list[int], budget: float) -> list[dict]:
    """Each scale exported, then restored with the emulator's Cognito quotas off, at `budget`."""
    rows = []
    for users in scales:
        pool_id = rig.aws.seed(REGION, users=users, groups=users // 100, one_group_each=True, seed=13)
        name = f"memory{users // 1000}k"
        table = f"scale-{name}"
        stack = rig.stack(name, [entry(name, pool_id, table, 30)])
        state, _ = stack.run(f"cognito_export_{name}", timeout=3600)
        rig.done(name)
        if state != "success":
            raise SystemExit(f"the export of {name} failed")
        rig.aws.set_config(quotas="off")
        try:
            rows.append(restore(rig, users, pool_id, table, budget, name="restoremem", part="restore, quotas off"))
        finally:
            rig.aws.set_config(quotas="aws")
    return rows


def dags_test(rig: Rig, users: int, budget: float) -> dict:
    """A first export under `airflow dags test`: the same listing plan as under the scheduler."""
    pool_id = rig.aws.seed(REGION, users=users, groups=users // 100, one_group_each=True, seed=11)
    name = f"dagstest{users // 1000}k"
    config = WORK / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"backups": [entry(name, pool_id, f"scale-{name}", budget)]}))
    env = airflow_env(WORK / f"airflow-{name}", rig.aws.env(REGION), config)
    airflow_cli(env, "db", "migrate")
    mark = rig.aws.mark()
    wall = airflow_cli(env, "dags", "test", f"cognito_export_{name}", log_path=WORK / f"{name}.log")
    row = {"part": "export under dags test", "run": "first", "users": users, "budget": budget,
           "pinned": False, "wall_s": round(wall, 1), **call_figures(rig.aws.requests(since=mark), users, budget)}
    print(row, flush=True)
    return row


def projections(rows: list[dict]) -> list[dict]:
    """Wall time and DynamoDB cost at 500,000 and 5,000,000 users, from the largest scale's runs."""
    largest = max(r["users"] for r in rows if r["part"] == "export")
    out = []
    for r in rows:
        if r["users"] != largest or r["part"] not in ("export", "restore"):
            continue
        for users in (500_000, 5_000_000):
            scale = users / r["users"]
            # Calls scale with users; the run keeps its measured utilisation of the budget.
            minutes = r["calls"] * scale / (r["budget"] * (r["utilisation"] or 1)) / 60
            monthly = None
            if r["run"] == "1% changed":  # a daily export at 1% change, one replica Region
                monthly = round(30 * scale * (r["wcu"] * (PRICE_WRU + PRICE_RWRU) + r["rcu"] * PRICE_RRU), 2)
            retired = RETIRED.get(users, {}).get("import" if r["part"] == "restore" else "export")
            out.append({"users": users, "run": f"{r['part']} {r['run']}", "budget": r["budget"],
                        "projected_min": round(minutes, 1), "retired_solution_min_at_10": retired,
                        "dynamodb_usd_month": monthly,
                        "airflow_cpu_min": round(r["cpu_s_per_1000"] * users / 1000 / 60, 1)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="20000,100000")
    parser.add_argument("--budgets", default="10,30")
    parser.add_argument("--restore-budget", type=float, default=25)
    parser.add_argument("--restore-scales", help="the scales restored (default: the smallest and the largest)")
    parser.add_argument("--baseline", default="81935bd", help="the commit whose code the CPU figures are held to")
    parser.add_argument("--first-only-at", default="", help="budgets at which only the first export runs")
    parser.add_argument("--baseline-scale", type=int, help="the scale of the baseline's exports (default: the largest)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each code in the paired part")
    parser.add_argument("--memory-budget", type=float, default=300, help="the budget of the restore-memory part")
    parser.add_argument("--parts", default="small,exports,baseline,restore,dagstest")
    parser.add_argument("--unpinned", action="store_true", help="emulator and Airflow share every core")
    parser.add_argument("--airflow-defaults", action="store_true",
                        help="Airflow's own scheduler loop, DAG refresh and heartbeat intervals, as on MWAA, "
                             "not the test stacks' quicker ones")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    scales = [int(s) for s in args.scales.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    rig = Rig(pinned=not args.unpinned, airflow_defaults=args.airflow_defaults)
    if rig.pinned:
        os.sched_setaffinity(0, {int(AIRFLOW_CPUS)})  # this process samples, on Airflow's core
    rows: list[dict] = []
    try:
        if "small" in parts:
            rows += small(rig)
        backups: dict[int, tuple[str, str]] = {}
        if "exports" in parts:
            first_only = {float(b) for b in args.first_only_at.split(",") if b}
            found, backups = exports(rig, scales, budgets, first_only)
            rows += found
        if "baseline" in parts:
            rows += baseline(rig, args.baseline_scale or max(scales), max(budgets), args.baseline)
        ratios: list[dict] = []
        if "paired" in parts:
            found, ratios = paired(rig, args.baseline_scale or max(scales), max(budgets), args.baseline, args.rounds)
            rows += found
        if "restore" in parts and backups:
            restored = [int(s) for s in args.restore_scales.split(",")] if args.restore_scales else [min(scales), max(scales)]
            for users in sorted(set(restored)):
                rows.append(restore(rig, users, *backups[users], args.restore_budget))
        if "restore-memory" in parts:
            rows += restore_memory(rig, scales, args.memory_budget)
        if "dagstest" in parts:
            rows.append(dags_test(rig, min(scales), max(budgets)))
    finally:
        rig.close()
    where = "pinned: emulator on core 1, Airflow on core 0" if rig.pinned else "unpinned"
    text = f"### Runs ({where}{'; Airflow default intervals' if rig.airflow_defaults else ''})\n\n{markdown(rows)}"
    if ratios:
        text += f"\n\n### This code's CPU a user over the baseline's, round by round\n\n{markdown(ratios)}"
    if any(r["part"] == "export" for r in rows):
        text += f"\n\n### Projections\n\n{markdown(projections(rows))}"
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
