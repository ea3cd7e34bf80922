"""A whole Airflow of one throwaway home (SQLite, LocalExecutor): api-server, scheduler,
dag-processor and triggerer as separate processes, running this project's DAGs against
`localaws`. Used by the browser tests and the benchmarks; development only.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_env(home: Path, aws_env: dict[str, str], config: Path, parallelism: int = 4,
                code: Path = ROOT) -> dict[str, str]:
    """The environment of an Airflow running the DAGs and plugins of `code` (this checkout, or
    another commit's work tree for a comparison)."""
    port = free_port()
    return {
        **os.environ,
        **aws_env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(code / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(code / "plugins"),
        "PYTHONPATH": str(code / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Airflow 3's task supervisor can notice its task process's exit only at its next
        # heartbeat wake-up when the process's sockets close first: about one task in four then
        # held its worker slot 5 s (the default) after it finished; with 1 s, at most 1 s.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "COGNITO_BACKUP_CONFIG": str(config),
    }


class AirflowStack:
    """The `components` of one throwaway Airflow home (SQLite), each `airflow <component>`."""

    def __init__(self, env: dict[str, str], components: tuple[str, ...] = COMPONENTS, cpus: str | None = None) -> None:
        self.env = env
        self.home = Path(env["AIRFLOW_HOME"])
        self.components = components
        self.processes: list[subprocess.Popen] = []
        # `taskset` syntax: every Airflow process (and the tasks they fork) on these cores only.
        self.prefix = ["taskset", "-c", cpus] if cpus is not None else []

    @property
    def url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def cli(self, *args: str) -> str:
        out = subprocess.run([*self.prefix, str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        return out.stdout

    def __enter__(self) -> AirflowStack:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.cli("db", "migrate")
        for component in self.components:
            args = [component, "--port", self.env["AIRFLOW__API__PORT"]] if component == "api-server" else [component]
            log = open(self.home / f"{component}.log", "w")
            self.processes.append(subprocess.Popen([*self.prefix, str(BIN / "airflow"), *args], env=self.env,
                                                   stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/api/v2/monitor/health", timeout=2)
                return self
            except OSError:
                time.sleep(1)
        self.__exit__()
        raise TimeoutError("the Airflow api-server did not start")

    def __exit__(self, *exc: Any) -> None:
        for process in self.processes:
            try:
                children = psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            for child in children:
                child.kill()
            process.kill()
            process.wait()

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dag_id in self.cli("dags", "list", "-o", "plain"):
                return
            time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} was not parsed")

    def query(self, sql: str, *args: Any) -> list[tuple]:
        """Rows of the metadata database, read-only."""
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, args).fetchall()

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """The run's final state (success or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} of {dag_id} did not finish in {timeout:.0f} s")

    def log_tail(self, component: str, chars: int = 3000) -> str:
        return (self.home / f"{component}.log").read_text(errors="replace")[-chars:]
