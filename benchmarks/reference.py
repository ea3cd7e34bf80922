"""A fixed CPU-bound workload, timed beside every benchmark run on the same cores as Airflow.

Machines of the same kind differ by 2x and more, and one machine's speed drifts through a day:
CPU-seconds of a run divided by this workload's seconds compare across days and machines. The
workload is the kind of Python the tasks run: building small dicts, JSON in and out, hashing.

    python benchmarks/reference.py             # prints the workload's CPU seconds (median of 3)
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import time

ITERATIONS = 100_000


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


def reference_seconds(cpus: str | None = None, repeats: int = 3) -> float:
    """The workload's median CPU seconds, in a fresh interpreter (on `cpus` only, when given)."""
    prefix = ["taskset", "-c", cpus] if cpus is not None else []
    runs = []
    for _ in range(repeats):
        out = subprocess.run([*prefix, sys.executable, __file__], capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip()))
    return round(statistics.median(runs), 3)


if __name__ == "__main__":
    print(f"{workload():.4f}")
