"""The pools of `make test-distributed` and what a test is handed: the running deployment.

Every pool a test uses is seeded, and named in the backups configuration, before Airflow
starts: each worker reads that file again at every task start, so it never changes during
the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localaws.testing import Emulator
from services import Postgres
from stack import CeleryStack

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".distributed"
REGION = "us-east-1"
BUCKET = "chaos-reports"
ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportLogs"


@dataclass(frozen=True)
class Pool:
    """A seeded pool and the export DAG `cognito_export_<name>` that backs it up."""

    name: str
    users: int
    groups: int
    tps: int
    seed: int
    one_group_each: bool = False
    user_shards: int | None = None  # None: as the pool's size decides

    @property
    def dag_id(self) -> str:
        return f"cognito_export_{self.name}"

    @property
    def table(self) -> str:
        return f"chaos-{self.name}"


POOLS = {pool.name: pool for pool in (
    # Shard tasks are what the scenario kills: 16 of them (by its size alone the pool is one task).
    Pool("kill", users=20_000, groups=200, tps=20, seed=101, one_group_each=True, user_shards=16),
    Pool("scheduler", users=5_000, groups=50, tps=20, seed=102),
    Pool("restore", users=1_500, groups=15, tps=50, seed=103),
    Pool("faults", users=1_000, groups=10, tps=20, seed=104),
    Pool("concurrent_a", users=4_000, groups=40, tps=10, seed=105),
    Pool("concurrent_b", users=4_000, groups=40, tps=10, seed=106),
    Pool("concurrent_restore", users=500, groups=10, tps=50, seed=107),
)}


@dataclass
class Deployment:
    stack: CeleryStack
    emulator: Emulator
    postgres: Postgres
    pool_ids: dict[str, str]
    topic: str
    queue: str  # where the SNS notifications of every run land
