"""A StatsD server for tests: a UDP socket on the loopback that keeps every line sent to it."""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict


class StatsdListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)

    def __enter__(self) -> StatsdListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                packet = self.sock.recv(65535)
            except TimeoutError:
                continue
            with self._lock:
                self._lines += packet.decode("utf-8", "replace").splitlines()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def metrics(self, prefix: str, kind: str) -> dict[str, list[float]]:
        """Values received per metric name starting with `prefix`, of one StatsD type (`c`, `ms`...)."""
        found: dict[str, list[float]] = defaultdict(list)
        for line in self.lines():
            name, _, rest = line.partition(":")
            value, _, kinds = rest.partition("|")
            if name.startswith(prefix) and kinds.split("|")[0] == kind:
                found[name].append(float(value))
        return dict(found)

    def wait_for(self, name: str, timeout: float = 30) -> None:
        """Until a line for metric `name` arrived (UDP: the sender does not wait)."""
        deadline = time.monotonic() + timeout
        while not any(line.startswith(name + ":") for line in self.lines()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no StatsD line for {name} in {timeout} s: {self.lines()[-40:]}")
            time.sleep(0.1)
