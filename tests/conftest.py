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
            # 5 retries (6 attempts) instead of the hooks' 10, so that injected failures fail fast.
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


# `make test-distributed` runs these on a deployment of their own; elsewhere they are left out
# unless named on the command line.
DISTRIBUTED_DIR = ROOT / "tests" / "distributed"




# The end-to-end tests: those that run the DAGs.
DAG_TEST_DIRS = (ROOT / "tests" / "export", ROOT / "tests" / "restore")
_NARROWED = pytest.StashKey[bool]()
_FAILED_DAG_TESTS: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--ui", action="store_true",
                     help="also collect tests/ui, the browser tests (`make test-ui`: chromium, a whole Airflow)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # The browser tests need Debian's chromium and start a whole Airflow: their own target.
    if collection_path == ROOT / "tests" / "ui" and not config.getoption("--ui"):
        return True
    if collection_path == DISTRIBUTED_DIR:
        named = (config.invocation_params.dir / arg.split("::")[0] for arg in config.args)
        return not any(path.resolve().is_relative_to(DISTRIBUTED_DIR) for path in named) or None
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "after_dag_runs: runs after every other test of the session (it reads what the DAG runs did)"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A stable sort: the marked tests go last, every other test keeps its place.
    items.sort(key=lambda item: item.get_closest_marker("after_dag_runs") is not None)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[_NARROWED] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed and Path(item.path).parent in DAG_TEST_DIRS:
        _FAILED_DAG_TESTS.append(item.nodeid)
    return report


@pytest.fixture(scope="session")
def every_dag_test_passed(request: pytest.FixtureRequest) -> bool:
    """Whether every end-to-end test file ran whole in this session (none chosen by name, none
    deselected) and passed. Meaningful in `after_dag_runs` tests, which run after them."""
    config = request.config
    if _FAILED_DAG_TESTS or config.stash.get(_NARROWED, False) or any("::" in arg for arg in config.args):
        return False
    wanted = {path for folder in DAG_TEST_DIRS for path in folder.glob("test_*.py")}
    return wanted <= {Path(item.path) for item in request.session.items}
