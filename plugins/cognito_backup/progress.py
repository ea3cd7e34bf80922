"""Progress lines for long tasks: counts and rates only, never user data."""

from __future__ import annotations

import logging
import threading
import time

INTERVAL_SECONDS = 10.0


class Progress:
    """Logs `what` done so far at most every 10 s, with the rate and an estimate of time left."""

    def __init__(self, log: logging.Logger, what: str, expected: int | None = None) -> None:
        self.log = log
        self.what = what
        self.expected = expected
        self.done = 0
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            now = time.monotonic()
            if now - self._last < INTERVAL_SECONDS:
                return
            self._last = now
        self.log.info("%s", self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        text = f"{self.what}: {self.done} done in {elapsed:.0f} s ({rate:.1f}/s)"
        if self.expected and rate > 0 and self.done < self.expected:
            text += f", about {(self.expected - self.done) / rate:.0f} s left of ~{self.expected}"
        return text
