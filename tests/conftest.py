"""Shared fixtures: Airflow in a project-local home, and one `localaws` emulator per session.

Every test talks to the emulator over HTTP, as the DAGs would talk to AWS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Before Airflow is imported: a project-local home, our DAGs and plugins, no examples.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))

from localaws.testing import Emulator  # noqa: E402

REGION = "us-east-1"
BACKUP_REGION = "us-west-2"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the session; the AWS SDK and Airflow's AWS connection point at it."""
    with Emulator.start(import_rate=20000) as running:
        env = {
            **running.env(REGION),
            # Fewer attempts than the default 10 so that injected failures fail fast.
            "AIRFLOW_CONN_AWS_DEFAULT": (
                '{"conn_type": "aws", "extra": {"region_name": "us-east-1", '
                '"config_kwargs": {"retries": {"mode": "standard", "max_attempts": 5}}}}'
            ),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        yield running
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def aws(emulator: Emulator) -> Emulator:
    """The session's emulator, emptied and back to its start settings."""
    emulator.reset()
    return emulator
