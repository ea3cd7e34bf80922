"""Run the real DAGs under an Airflow scheduler (LocalExecutor) against `localaws`, and read
figures off the emulator's request log. Development only: used by `make bench-*`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
# A pinned rig: AWS (the emulator) is not on Airflow's core, as in production.
AIRFLOW_CPUS, EMULATOR_CPUS = "0", "1"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))
import airflow_stack  # noqa: E402
from airflow_stack import airflow_env  # noqa: E402, F401 - the benchmarks' import


class AirflowStack(airflow_stack.AirflowStack):
    """The shared stack (with a triggerer: long waits defer to it), and a run that samples the
    tasks' memory and the host's CPU."""

    def __init__(self, env: dict[str, str], cpus: str | None = None) -> None:
        # Bytecode cached, as in a deployment, whatever the caller's shell says: with
        # PYTHONDONTWRITEBYTECODE set, every task process and every DAG parse compiles the
        # plugins' modules from source again, a cost that grows with the size of the code.
        env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        super().__init__(env, cpus=cpus)

    def run(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 3600, cpu: CpuMeter | None = None
    ) -> tuple[str, dict]:
        """Trigger a run and wait for it; returns (state, peak RSS in MiB per task instance).
        With `cpu`, also measures the host's CPU use while the run lasts."""
        self.cli("dags", "unpause", dag_id)
        run_id = self.last_run_id = f"bench__{time.time():.3f}"
        if cpu:
            cpu.sample(processes())
        self.cli("dags", "trigger", dag_id, "--conf", json.dumps(conf or {}), "--run-id", run_id)
        peaks: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        last_check = 0.0
        while time.monotonic() < deadline:
            running = processes()  # one walk of the process table for both samplers
            sample_task_memory(running, peaks)
            if cpu:
                cpu.sample(running)
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                state = self.run_state(dag_id, run_id)
                if state in ("success", "failed"):
                    return state, self.by_task(peaks)
            time.sleep(0.2)
        raise TimeoutError(f"run {run_id} did not finish")

    def run_seconds(self, dag_id: str, run_id: str) -> float:
        """The run's duration as Airflow recorded it (its start to its end)."""
        [(seconds,)] = self.query("SELECT (julianday(end_date) - julianday(start_date)) * 86400 FROM dag_run "
                                  "WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return float(seconds)

    def tasks_run(self, dag_id: str, run_id: str) -> int:
        """Task instances of the run that ran (mapped ones each), not those skipped."""
        [(count,)] = self.query("SELECT COUNT(*) FROM task_instance WHERE dag_id = ? AND run_id = ? "
                                "AND state IN ('success', 'failed')", dag_id, run_id)
        return int(count)

    def by_task(self, peaks: dict[str, float]) -> dict[str, float]:
        """Task instance ids -> `task_id[map_index]`."""
        named = {}
        for ti_id, rss in peaks.items():
            rows = self.query("SELECT task_id, map_index FROM task_instance WHERE id = ?", ti_id.replace("-", ""))
            if rows:
                task_id, map_index = rows[0]
                named[task_id + (f"[{map_index}]" if map_index >= 0 else "")] = round(rss, 1)
        return named


@dataclasses.dataclass(frozen=True)
class Process:
    pid: int
    title: str
    memory_info: Any
    cpu_times: Any


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this host's cores wanted it (all cores):
    a virtual machine paused from outside shows here, and nowhere in its own processes' figures."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def processes() -> list[Process]:
    """The host's processes with their titles, memory and CPU times, read once."""
    found = []
    for proc in psutil.process_iter(["cmdline", "memory_info", "cpu_times"]):
        try:
            # setproctitle pads the old argv with empty strings
            title = " ".join(proc.info["cmdline"] or []).strip()
            found.append(Process(proc.pid, title, proc.info["memory_info"], proc.info["cpu_times"]))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


class CpuMeter:
    """CPU seconds the host's processes use from the first sample on, by kind: the emulator,
    Airflow's task processes (supervisors and the LocalExecutor's workers included), scheduler,
    api-server, dag-processor, triggerer.

    A process first seen after the first sample (a task) counts from zero; one that ends
    between two samples loses what it used since the last (samples are 0.2 s apart)."""

    KINDS = (("localaws", "emulator"), ("airflow worker", "tasks"), ("scheduler", "scheduler"),
             ("api-server", "api-server"), ("api_server", "api-server"), ("dag-processor", "dag-processor"), ("triggerer", "triggerer"))

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.started = False
        self.window = (0.0, 0.0)  # monotonic times of the first and the latest sample

    def sample(self, running: list[Process]) -> None:
        now = time.monotonic()
        self.window = (self.window[0] if self.started else now, now)
        for proc in running:
            kind = next((k for marker, k in self.KINDS if marker in proc.title), None)
            if kind and proc.cpu_times:
                used = proc.cpu_times.user + proc.cpu_times.system
                self.first.setdefault(proc.pid, used if not self.started else 0.0)
                self.last[proc.pid] = (kind, used)
        self.started = True

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, (kind, used) in self.last.items():
            totals[kind] = totals.get(kind, 0.0) + used - self.first[pid]
        return {kind: round(value, 1) for kind, value in sorted(totals.items())}


def idle_airflow_cpu(seconds: float = 10.0) -> float:
    """CPU-seconds a second that Airflow's processes use with no run going: the scheduler,
    api-server, dag-processor and triggerer loop, and the executor's workers wait, busy or not."""
    meter = CpuMeter()
    deadline = time.monotonic() + seconds
    while True:
        meter.sample(processes())
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    used = sum(v for k, v in meter.seconds().items() if k != "emulator")
    return used / max(meter.window[1] - meter.window[0], 1e-9)


def sample_task_memory(running: list[Process], peaks: dict[str, float]) -> None:
    """Record the resident memory of running task processes, by task instance id.

    The LocalExecutor's task processes are titled `airflow worker -- <task instance id>`.
    """
    for proc in running:
        if proc.title.startswith("airflow worker -- ") and "LocalExecutor" not in proc.title and proc.memory_info:
            ti_id = proc.title.rsplit(" ", 1)[-1]
            peaks[ti_id] = max(peaks.get(ti_id, 0.0), proc.memory_info.rss / 2**20)


def cognito_figures(records: list[dict[str, Any]], tps: float) -> dict[str, Any]:
    """Calls, ideal and measured seconds (first to last Cognito call), utilisation, throttling."""
    calls = [r for r in records if r.get("service") == "cognito-idp"]
    if not calls:
        return {"calls": 0}
    done = [r for r in calls if r["outcome"] == "ok"]
    first = min(r["time"] for r in calls)
    last = max(r["time"] for r in calls)
    measured = last - first
    ideal = (len(done) - 1) / tps  # n calls spaced 1/tps apart span (n-1)/tps seconds
    from bisect import bisect_left

    times = sorted(r["time"] for r in calls)
    peak = max(bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    return {
        "calls": len(done),
        "throttled": sum(r["outcome"] == "throttled" for r in calls),
        "refused": sum(r["outcome"] not in ("ok", "throttled") for r in calls),  # spent budget for nothing
        "ideal_s": round(ideal, 2),
        "measured_s": round(measured, 2),
        "utilisation": round(ideal / measured, 3) if measured else None,
        "max_calls_in_1s": peak,
        "longest_gap_s": round(gap, 2),  # a stall shows here, however short the run
    }


def dynamodb_units(records: list[dict[str, Any]], table: str) -> dict[str, float]:
    rows = [r for r in records if r.get("service") == "dynamodb" and table in (r.get("table") or "")]
    return {
        "wcu": round(sum(r.get("wcu") or 0 for r in rows), 1),
        "rcu": round(sum(r.get("rcu") or 0 for r in rows), 1),
        "item_writes": sum(len(r.get("writes") or []) for r in rows),
    }


def airflow_cli(env: dict[str, str], *args: str, log_path: Path | None = None) -> float:
    """Run the Airflow CLI (e.g. `dags test`, `db migrate`); returns its wall time in seconds."""
    started = time.monotonic()
    with open(log_path or os.devnull, "a") as log:
        subprocess.run([str(BIN / "airflow"), *args], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - started


def publish(text: str, out: str | None) -> None:
    """Print a benchmark's tables, and write them to `out` (the file RESULTS.md quotes) if given."""
    print("\n" + text)
    if out:
        Path(out).write_text(text + "\n")


def markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


@contextmanager
def timed(label: str):
    started = time.monotonic()
    yield
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)
