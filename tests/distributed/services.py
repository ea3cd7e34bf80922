"""PostgreSQL and Redis from Debian's packages, each in a project-local folder on a free port.

`make test-distributed` installs the packages when they are absent; these classes only run
the servers, in the foreground of a process this test session owns, and stop them.
PostgreSQL refuses to run as root: as root, its processes run as the `postgres` system user
that Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout} s")


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def postgres_bindir() -> Path:
    """Debian keeps each major version's server programs in /usr/lib/postgresql/<major>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise FileNotFoundError("PostgreSQL's server programs are not installed (Debian package postgresql)")


class Postgres:
    """A throwaway cluster: trust authentication on 127.0.0.1, no durability (a test database)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._temporary = False
        # As root, run as Debian's `postgres` user; as anyone else, as oneself.
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user is not None and not self._reachable(folder.parent):
            # A checkout in a folder the postgres user may not enter (a private home): the
            # cluster goes to a temporary folder instead, removed when it stops.
            self.folder = Path(tempfile.mkdtemp(prefix="cognito-backup-postgres-"))
            self._temporary = True

    def _reachable(self, folder: Path) -> bool:
        return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)]).returncode == 0

    def url(self, database: str = "airflow", driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": self.user.pw_dir}}

    def _own(self, *paths: Path) -> None:
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            if self.user is not None:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def start(self) -> Postgres:
        bindir = postgres_bindir()
        data, sockets = self.folder / "data", self.folder / "run"
        self._own(self.folder, sockets)
        log = self.folder / "postgres.log"
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, cwd=self.folder, **self._run_as(),
        )
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(sockets),
                 "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.folder, **self._run_as(),
            )
        wait_for_port(self.port, self.process, "postgres", log)
        self.sql("CREATE DATABASE airflow", database="postgres")
        return self

    def sql(self, statement: str, database: str = "airflow") -> list[tuple]:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
                break
            except psycopg2.OperationalError:  # still starting up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def dump(self, database: str = "airflow") -> str:
        """The whole database as SQL text (pg_dump)."""
        out = subprocess.run(
            [str(postgres_bindir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database],
            check=True, capture_output=True, **self._run_as(),
        )
        return out.stdout.decode("utf-8", "replace")

    def stop(self) -> None:
        stop(self.process, signal.SIGINT)  # "fast" shutdown: ends the sessions, no checkpoint wait
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """A Redis server that keeps nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.folder.mkdir(parents=True, exist_ok=True)
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = self.folder / "redis.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                 "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.folder,
            )
        wait_for_port(self.port, self.process, "redis-server", log)
        return self

    def stop(self) -> None:
        stop(self.process)
