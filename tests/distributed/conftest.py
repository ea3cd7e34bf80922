"""The deployment of `make test-distributed`: PostgreSQL, Redis, the emulator and Airflow with
the CeleryExecutor, started once for the session in `.distributed/` and stopped after it."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

# The restore tests' exactness assertions (import_runs) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "restore"))

from deployment import BUCKET, FOLDER, POOLS, REGION, ROLE_ARN, Deployment
from localaws.testing import Emulator
from notices import topic_with_queue
from services import Postgres, Redis
from stack import CeleryStack


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    # `timeout` (make test-distributed) ends a run that overstays with SIGTERM: tear down then too.
    signal.signal(signal.SIGTERM, _interrupt)
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir()
    postgres, redis = Postgres(FOLDER / "postgres"), Redis(FOLDER / "redis")
    emulator = None
    saved = dict(os.environ)
    try:
        postgres.start()
        redis.start()
        emulator = Emulator.start(latency_ms=20, quotas="aws", import_rate=2000,
                                  request_log=str(FOLDER / "requests.jsonl"))
        aws_env = emulator.env(REGION)
        os.environ.update(aws_env)  # the tests' own boto3 calls
        pool_ids = {name: emulator.seed(REGION, users=p.users, groups=p.groups, seed=p.seed,
                                        one_group_each=p.one_group_each) for name, p in POOLS.items()}
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        topic, queue = topic_with_queue("chaos-notices", REGION)
        config = FOLDER / "backups.yaml"
        config.write_text(yaml.safe_dump({"backups": [
            {"name": name, "user_pool_id": pool_ids[name], "region": REGION, "table_name": pool.table,
             "schedule": None, "cognito_tps": pool.tps, "retry_delay_seconds": 5,
             "notification_topic_arn": topic, "notify": "all",
             **({"user_shards": pool.user_shards} if pool.user_shards else {})}
            for name, pool in POOLS.items()
        ]}))
        env = {
            **aws_env,
            # The hooks' own retry settings (standard mode, 10 attempts), as deployed.
            "AIRFLOW_CONN_AWS_DEFAULT": '{"conn_type": "aws", "extra": {"region_name": "us-east-1"}}',
            "AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN": ROLE_ARN,
            "COGNITO_BACKUP_CONFIG": str(config),
        }
        with CeleryStack(FOLDER, postgres, redis, env) as stack:
            stack.wait_for_dags("cognito_import", *(p.dag_id for p in POOLS.values()))
            yield Deployment(stack, emulator, postgres, pool_ids, topic, queue)
    finally:
        if emulator is not None:
            emulator.stop()
        redis.stop()
        postgres.stop()
        os.environ.clear()
        os.environ.update(saved)


FIGURES = pytest.StashKey[list]()
HEADER = ("scenario", "pool and budget", "killed or injected", "run s", "Cognito calls", "most calls in any second",
          "recovery")


@pytest.fixture
def figures(request: pytest.FixtureRequest):
    """Record one scenario's figures for the table printed at the end of the session."""
    rows = request.config.stash.setdefault(FIGURES, [])

    def record(scenario: str, setup: str, fault: str, seconds: float, calls: list, busiest, recovery: str) -> None:
        rows.append((scenario, setup, fault, f"{seconds:.0f}", f"{len(calls):,}", str(busiest), recovery))

    return record


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    rows = config.stash.get(FIGURES, [])
    if rows:
        terminalreporter.section("scenario figures (items lost: 0 in each, asserted)")
        for row in (HEADER, *rows):
            terminalreporter.write_line("| " + " | ".join(row) + " |")
