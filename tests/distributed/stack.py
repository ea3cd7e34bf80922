"""Airflow as MWAA runs it, on one host: the CeleryExecutor with a Redis broker, PostgreSQL for
the metadata database and the Celery results, and every component a process of its own (an
api-server, a scheduler, a dag-processor, a triggerer and Celery workers), which a test can
kill with SIGKILL and start again.

Runs are triggered and watched through the REST API, as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from services import Postgres, Redis, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKER_CONCURRENCY = 4
# Airflow's processes run at a lower CPU priority than the emulator, which stands for AWS on
# other hosts. At equal priority, on 2 cores shared with a dozen busy processes, the emulator
# logged 4 or 5 calls within 40 ms after a 200 ms gap (22 or 23 in one second at a budget of
# 20) during a restore under faults; replayed with the same limiter and faults on a loaded
# host, the calls' send times kept to 21 a second while their logged arrivals reached 22.
AIRFLOW_NICENESS = 5

# Short timeouts, so that the faults a test causes are found in seconds rather than minutes;
# the same settings an MWAA environment has, at other values.
DETECTION = {
    # A task process's supervisor heartbeats every second (min_heartbeat_interval below); one
    # that has not for 20 s is on a dead worker: the scheduler fails that try and retries it.
    # (Default 300 s.) Checked every 2 s (default 10).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    # A scheduler that has not heartbeaten for 20 s is dead: the next one adopts the tasks it
    # had queued (checked at its start and every 10 s; defaults 30 s and 300 s).
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
    # A task whose Celery message went down with a killed worker before it started stays
    # queued: requeue it after 2 minutes (default 10), checked every 10 s (default 120).
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
    # See the README, "Performance and cost": a worker frees a finished task's slot within 1 s.
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
}


@dataclass
class Component:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None

    def tree(self) -> list[psutil.Process]:
        """The component's process and all its descendants (task supervisors and task processes)."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


class CeleryStack:
    """The processes of one Airflow deployment in `folder`, against `postgres` and `redis`."""

    def __init__(self, folder: Path, postgres: Postgres, redis: Redis, env: dict[str, str], workers: int = 2) -> None:
        self.folder = folder
        self.home = folder / "airflow"
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            **env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "PYTHONPATH": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(),
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url(),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # No more tasks handed to Celery than the workers have slots: none waits in the broker.
            "AIRFLOW__CORE__PARALLELISM": str(workers * WORKER_CONCURRENCY),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(workers * WORKER_CONCURRENCY),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            # Other Airflow installations may run on this host: no fixed port.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Every component must share these, or tokens and encrypted values do not verify.
            "AIRFLOW__API_AUTH__JWT_SECRET": "distributed-test-jwt-secret",
            "AIRFLOW__API__SECRET_KEY": "distributed-test-secret-key",
            "AIRFLOW__CORE__FERNET_KEY": "IeJEVlzSlSWMa3zp1eNms2t55FcZEeFafskveC-FhO0=",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **DETECTION,
        }
        self.components: dict[str, Component] = {}
        for name, command in (("api-server", ["api-server", "--port", str(port)]), ("scheduler", ["scheduler"]),
                              ("dag-processor", ["dag-processor"]), ("triggerer", ["triggerer"])):
            self.components[name] = Component(name, command)
        self._workers_started = 0
        for _ in range(workers):
            self.add_worker()

    # --- processes ------------------------------------------------------------------------

    def add_worker(self) -> Component:
        """A new Celery worker (a replacement gets a new name, as a replaced host would)."""
        self._workers_started += 1
        name = f"worker{self._workers_started}"
        worker = Component(name, ["celery", "worker", "--celery-hostname", f"{name}@%h",
                                  "--concurrency", str(WORKER_CONCURRENCY), "--skip-serve-logs"])
        self.components[name] = worker
        if self.home.exists():  # the stack is up: start it now
            self.start(worker)
        return worker

    @property
    def workers(self) -> list[Component]:
        return [c for c in self.components.values() if c.command[0] == "celery" and c.process and c.process.poll() is None]

    def cli(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if out.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        return out.stdout

    def start(self, component: Component) -> None:
        log = open(self.home / f"{component.name}.log", "a")
        component.process = subprocess.Popen(["nice", "-n", str(AIRFLOW_NICENESS), str(BIN / "airflow"),
                                              *component.command], env=self.env,
                                             stdout=log, stderr=subprocess.STDOUT, cwd=self.home)
        log.close()

    def kill(self, component: Component) -> list[int]:
        """SIGKILL the component's whole process tree at once (its host is gone); returns the pids."""
        tree = component.tree()
        for proc in tree:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=30)
        if component.process is not None:
            component.process.wait()
        return [p.pid for p in tree]

    def __enter__(self) -> CeleryStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.cli("db", "migrate")
        for component in self.components.values():
            self.start(component)
        self.wait_until(lambda: self._healthy(), 180, "the Airflow api-server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        for component in self.components.values():
            tree = component.tree()
            for proc in tree:
                try:
                    proc.terminate()
                except psutil.NoSuchProcess:
                    pass
            _, alive = psutil.wait_procs(tree, timeout=20)
            for proc in alive:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
            if component.process is not None:
                component.process.wait()

    # --- the REST API ---------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One call of Airflow's REST API (the simple auth manager lets everyone in as admin)."""
        request = urllib.request.Request(
            self.base_url + path, method=method, headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text

    def _healthy(self) -> bool:
        try:
            status, health = self.api("GET", "/api/v2/monitor/health")
        except OSError:
            return False
        return status == 200 and health["scheduler"]["status"] == "healthy"

    def wait_until(self, condition, timeout: float, message: str, every: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(message)

    def wait_for_dags(self, *dag_ids: str, timeout: float = 240) -> None:
        def parsed() -> bool:
            return all(self.api("GET", f"/api/v2/dags/{dag_id}")[0] == 200 for dag_id in dag_ids)

        self.wait_until(parsed, timeout, f"DAGs {dag_ids} were not parsed", every=2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run_id = f"chaos__{dag_id}__{time.time():.3f}"
        status, body = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}})
        if status != 200:
            raise RuntimeError(f"triggering {dag_id} answered {status}: {body}")
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        status, body = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return body["state"] if status == 200 else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1200) -> str:
        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        return self.wait_until(finished, timeout, f"run {run_id} of {dag_id} did not finish", every=2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        status, body = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
        assert status == 200, body
        return body["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"]
                for ti in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        status, body = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
                   f"?map_index={map_index}&deserialize=true",
        )
        assert status == 200, body
        return body["value"]

    def worker_running(self, pids: set[int]) -> Component | None:
        """The live worker whose process tree holds one of `pids` (task processes)."""
        for worker in self.workers:
            if pids & {p.pid for p in worker.tree()}:
                return worker
        return None
