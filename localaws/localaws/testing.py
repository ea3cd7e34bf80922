"""``Emulator``: run ``localaws serve`` as a subprocess for tests and benchmarks.

    with Emulator.start(latency_ms=50, quotas="aws") as emulator:
        cognito = emulator.client("cognito-idp")
        pool_id = emulator.seed("us-east-1", users=1000, groups=10)
        mark = emulator.mark()
        ...
        calls = emulator.requests(since=mark)

Only the standard library and boto3 are needed on the test side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from localaws import requestlog
from localaws.seed import post_json, seed_pool

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class Emulator:
    def __init__(self, process: subprocess.Popen[bytes], endpoint: str, workdir: str, request_log: str):
        self.process = process
        self.endpoint = endpoint
        self.request_log = request_log
        self.workdir = workdir
        self.server_log = os.path.join(workdir, "server.log")

    @classmethod
    def start(
        cls,
        latency_ms: float = 0,
        quotas: str = "off",
        faults: str | list[dict[str, Any]] | None = None,
        request_log: str | None = None,
        import_rate: float = 1000,
        pitr_lag: float = 300,
        host: str = "127.0.0.1",
        timeout: float = 60,
        cpus: str | None = None,
        stall_log: str | None = None,
    ) -> Emulator:
        """Launch ``python -m localaws serve`` on a free port and wait until it is ready.

        The server runs under this interpreter, or ``$LOCALAWS_PYTHON`` when set; with ``cpus``
        (``taskset`` syntax, e.g. "1") only on those cores, as AWS is not on a worker's CPU.

        ``faults`` is a ``--faults`` SPEC string or a list of JSON rules. Without
        ``request_log`` the log goes to a temporary file (``requests()`` always works).
        ``stall_log``: where the server records its own pauses (`localaws.stalls`).
        """
        workdir = tempfile.mkdtemp(prefix="localaws-")
        request_log = request_log or os.path.join(workdir, "requests.jsonl")
        # LOCALAWS_PYTHON: another environment's interpreter (with moto) can serve a test
        # environment that has only boto3, e.g. an older Airflow's with an older botocore.
        python = os.environ.get("LOCALAWS_PYTHON") or sys.executable
        command = [
            python, "-m", "localaws", "serve",
            "--port", "0", "--host", host,
            "--latency-ms", str(latency_ms),
            "--quotas", quotas,
            "--import-rate", str(import_rate),
            "--pitr-lag", str(pitr_lag),
            "--request-log", request_log,
        ]  # fmt: skip
        if isinstance(faults, str):
            command += ["--faults", faults]
        if stall_log:
            command += ["--stall-log", stall_log]
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        stdout_path = os.path.join(workdir, "server.out")
        with open(stdout_path, "wb") as stdout, open(os.path.join(workdir, "server.log"), "wb") as stderr:
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=workdir)
        try:
            endpoint = _wait_for_endpoint(process, stdout_path, os.path.join(workdir, "server.log"), timeout)
        except BaseException:
            process.kill()
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        emulator = cls(process, endpoint, workdir, request_log)
        if isinstance(faults, list):
            emulator.set_faults(faults)
        return emulator

    # --- talking to AWS through it ------------------------------------------------------

    def client(self, service: str, region: str = "us-east-1", **config: Any) -> Any:
        """A boto3 client for ``service`` pointed at the emulator (``config``: botocore Config options)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config),
        )

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI and Airflow here."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": region, **DUMMY_CREDENTIALS}

    def seed(self, region: str, users: int, groups: int, **options: Any) -> str:
        """A new seeded user pool (see ``localaws.seed.seed_pool``); returns its id."""
        return seed_pool(self.endpoint, region, users, groups, **options)

    # --- controlling it -----------------------------------------------------------------

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules (see ``localaws.faults``); [] removes them all."""
        return post_json(self.endpoint, "/_localaws/faults", rules)

    def faults(self) -> list[dict[str, Any]]:
        """The current fault rules with their ``seen`` / ``injected`` counters."""
        return self._get("/_localaws/faults")

    def set_config(self, **settings: Any) -> dict[str, Any]:
        """Change latency_ms, quotas ("aws" / "off"), import_rate, replica_delay, pitr_lag or restore_delay."""
        return post_json(self.endpoint, "/_localaws/config", settings)

    def reset(self) -> None:
        """Forget all AWS state, quota buckets, faults and import jobs; restore start settings."""
        post_json(self.endpoint, "/_localaws/reset", {})

    def health(self) -> dict[str, Any]:
        return self._get("/_localaws/health")

    def import_job(self, job_id: str) -> dict[str, Any]:
        """An import job as DescribeUserImportJob shows it, plus ``Failures`` (line, username, reason)."""
        return self._get(f"/_localaws/import-jobs/{job_id}")

    # --- the request log ----------------------------------------------------------------

    def mark(self) -> int:
        """A point in the request log: ``requests(since=mark)`` returns only later calls."""
        return requestlog.end_offset(self.request_log)

    def requests(self, since: int | None = None) -> list[dict[str, Any]]:
        """Request-log records (all, or those after a ``mark()``)."""
        return requestlog.read(self.request_log, since or 0)

    # --- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The temporary directory goes (with the default request log); a --request-log
        # path the caller chose stays.
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.endpoint + path, timeout=30) as response:
            return json.loads(response.read())


def _wait_for_endpoint(process: subprocess.Popen[bytes], stdout_path: str, log_path: str, timeout: float) -> str:
    """The URL from the server's ready line ("localaws listening on http://...")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(stdout_path, encoding="utf-8") as stdout:
            for line in stdout:
                if "listening on " in line:
                    return line.rsplit(" ", 1)[-1].strip()
        if process.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(f"localaws exited with {process.returncode}:\n{log.read()[-4000:]}")
        time.sleep(0.02)
    raise TimeoutError(f"localaws did not start within {timeout} s")
