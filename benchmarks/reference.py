"""A fixed CPU-bound workload, timed beside every benchmark run on the same cores as Airflow.

Machines of the same kind differ by 2x and more, and one machine's speed drifts through a day:
CPU-seconds of a run divided by this workload's seconds compare across days and machines. The
workload is the kind of Python the tasks run: building small dicts, JSON in and out, hashing.

Timed before and after a run, it misses how the host's speed moves during the run (runs of two
to five minutes have seen it change by a half); `ReferenceProbe` also times a fiftieth of it
every few seconds while the run goes on, on the run's cores.

    python benchmarks/reference.py             # prints the workload's CPU seconds
    python benchmarks/reference.py --probe 3   # a fiftieth of it every 3 s, its CPU seconds each
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import time
from typing import Any

ITERATIONS = 100_000
SLICE = ITERATIONS // 50  # about 0.03 to 0.05 CPU-seconds a slice


def workload(iterations: int = ITERATIONS) -> float:
    """CPU seconds of one pass (this process's CPU time: other processes' load does not count)."""
    started = time.process_time()
    digest = b""
    for i in range(iterations):
        user = {"Username": f"user-{i}", "Enabled": i % 7 != 0, "UserStatus": "CONFIRMED",
                "Attributes": [{"Name": n, "Value": f"{n}-{i}-{digest[:4].hex()}"} for n in
                               ("sub", "email", "given_name", "family_name", "custom:department")]}
        text = json.dumps(user, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).digest()
        json.loads(text)
    return time.process_time() - started


def command(cpus: str | None, *args: str) -> list[str]:
    """This script with `args`, in a fresh interpreter on `cpus` only (`taskset`) when given."""
    return [*(["taskset", "-c", cpus] if cpus is not None else []), sys.executable, __file__, *args]


def reference_seconds(cpus: str | None = None, repeats: int = 3) -> float:
    """The workload's median CPU seconds, in a fresh interpreter (on `cpus` only, when given)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(command(cpus), capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip()))
    return round(statistics.median(runs), 3)


class ReferenceProbe:
    """The workload timed in slices while a run goes on, on the same cores as the run's Airflow.

    Every `interval` seconds a process runs a fiftieth of the workload (about 1.5% of a core at
    3 s) and reports its CPU seconds; `seconds()` is the median slice scaled to the whole
    workload. A slice that shares its core with a busy Airflow runs a little slower (caches,
    switches), so a run that uses more CPU is divided by a larger reference: the comparison
    leans against the code that uses less.
    """

    def __init__(self, cpus: str | None = None, interval: float = 3.0) -> None:
        self.command = command(cpus, "--probe", str(interval))
        self.slices: list[float] = []

    def __enter__(self) -> ReferenceProbe:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        out, _ = self.process.communicate()
        self.slices = [float(line) for line in out.split()]

    def seconds(self) -> float | None:
        """The whole workload's CPU seconds at the median slice's speed; None before a slice."""
        if not self.slices:
            return None
        return round(statistics.median(self.slices) * ITERATIONS / SLICE, 3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        while True:
            time.sleep(float(sys.argv[2]))
            print(f"{workload(SLICE):.5f}", flush=True)
    print(f"{workload():.4f}")
