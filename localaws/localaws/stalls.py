"""The emulator's own pauses, for benchmarks (``serve --stall-log FILE``).

When a benchmark finds seconds without a call, this log tells whether the emulator stopped
answering or its clients stopped asking. One JSON object per line:

    {"kind": "second", "time", "cpu", "inflight", "threads"}
        once a second: the process's CPU-seconds in that second, requests being answered
    {"kind": "late", "time", "seconds"}
        the watchdog thread woke this much later than it asked: no thread of the emulator
        ran Python meanwhile (the GIL held by one long C call, or the process not scheduled)
    {"kind": "gc", "time", "seconds", "generation", "collected"}
        a garbage collection that took over 20 ms
    {"kind": "slow", "time", "age", "service", "operation", "stack"}
        a request in progress for over a second, with its thread's stack (once a second)
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from typing import Any

from localaws.requestlog import RequestLog

TICK_SECONDS = 0.05
LATE_SECONDS = 0.25
SLOW_COLLECTION_SECONDS = 0.02
SLOW_REQUEST_SECONDS = 1.0


class StallLog:
    def __init__(self, path: str):
        self._log = RequestLog(path)  # the same locked, line-at-a-time JSON file
        self._inflight: dict[int, tuple[float, str, str]] = {}
        self._collecting = 0.0
        self._stop = threading.Event()
        gc.callbacks.append(self._on_collection)
        self._thread = threading.Thread(target=self._watch, name="stall-log", daemon=True)
        self._thread.start()

    def begin(self, service: str, operation: str) -> None:
        self._inflight[threading.get_ident()] = (time.monotonic(), service, operation)

    def end(self) -> None:
        self._inflight.pop(threading.get_ident(), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        self._log.close()

    def _write(self, record: dict[str, Any]) -> None:
        self._log.write({"time": round(time.time(), 3), **record})

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting = time.perf_counter()
            return
        took = time.perf_counter() - self._collecting
        if took >= SLOW_COLLECTION_SECONDS:
            self._write({"kind": "gc", "seconds": round(took, 4), "generation": info["generation"],
                         "collected": info["collected"]})

    def _watch(self) -> None:
        second, cpu = time.monotonic(), time.process_time()
        reported: dict[int, float] = {}
        while not self._stop.is_set():
            asked = time.monotonic()
            self._stop.wait(TICK_SECONDS)
            now = time.monotonic()
            if now - asked - TICK_SECONDS >= LATE_SECONDS:
                self._write({"kind": "late", "seconds": round(now - asked - TICK_SECONDS, 3)})
            if now - second >= 1.0:
                used = time.process_time()
                self._write({"kind": "second", "cpu": round(used - cpu, 3), "inflight": len(self._inflight),
                             "threads": threading.active_count()})
                second, cpu = now, used
            frames = None
            for ident, (began, service, operation) in list(self._inflight.items()):
                if now - began < SLOW_REQUEST_SECONDS or now - reported.get(ident, 0.0) < 1.0:
                    continue
                frames = frames or sys._current_frames()
                frame = frames.get(ident)
                reported[ident] = now
                self._write({"kind": "slow", "age": round(now - began, 3), "service": service,
                             "operation": operation,
                             "stack": traceback.format_stack(frame)[-12:] if frame else None})
