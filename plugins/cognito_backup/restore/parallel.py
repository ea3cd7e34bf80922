"""Overlapping Cognito calls within one task: a thread pool fed from a stream.

Calls still wait for slots of the run's budget (the hook's rate limiter); threads only keep
enough of them in flight that the budget is used, whatever the call latency.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from cognito_backup import items
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.rate_limit import short_collections


def threads_for(rate: float) -> int:
    """Enough calls in flight to use a budget of `rate` calls a second at up to ~1 s per call, within 4..32."""
    return int(min(32, max(4, float(rate))))


class Workers:
    """Run `fn(item)` for a stream of items on `threads` threads, at most 2x `threads` queued.

    Each call returns an outcome (a string, counted), several (a tuple) or None. The first error stops further
    submissions and is raised when the block exits, after the calls in flight have finished.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self.counts: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max_workers=self.threads)
        self._slots = threading.BoundedSemaphore(self.threads * 2)
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def submit(self, fn: Callable[..., str | tuple[str, ...] | None], *args: Any) -> None:
        if self._error is not None:
            raise self._error
        self._slots.acquire()
        self._pool.submit(fn, *args).add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        self._slots.release()
        error = future.exception()
        with self._lock:
            if error is not None:
                if self._error is None:
                    self._error = error
                return
            outcome = future.result()
            for name in outcome if isinstance(outcome, tuple) else (outcome,):
                if name:
                    self.counts[name] += 1

    def __enter__(self) -> Workers:
        self._section = ExitStack()
        self._section.enter_context(short_collections())
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        with self._section:
            self._pool.shutdown(wait=True)
        if exc is None and self._error is not None:
            raise self._error


def scan_parallel(table: BackupTableHook, kind: str, fn: Callable[[Any], None], segments: int = 4,
                  batch_size: int = 0) -> None:
    """`fn(item)` for every item of `kind` in the table, `segments` parallel scan segments at once.

    With `batch_size`, `fn` gets lists of up to that many items instead.
    """
    def segment(s: int) -> None:
        found = table.scan_kind(kind, s, segments)
        if batch_size:
            for batch in batched(found, batch_size):
                fn(batch)
        else:
            for item in found:
                fn(item)

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for future in [pool.submit(segment, s) for s in range(segments)]:
            future.result()


def scan_kinds(table: BackupTableHook, handlers: dict[str, Callable[[list[Any]], None]], segments: int = 4,
               batch_size: int = 500) -> None:
    """One parallel scan of the whole table: each item of a kind in `handlers` goes, in batches
    of up to `batch_size`, to that kind's handler. Reads the table once for several kinds."""
    def segment(s: int) -> None:
        pending: dict[str, list[Any]] = {kind: [] for kind in handlers}
        for item in table.scan(s, segments):
            kind = items.kind_of(item)
            batch = pending.get(kind)
            if batch is None:
                continue  # the manifest, the pool snapshot, the rate limiter's schedule
            batch.append(item)
            if len(batch) >= batch_size:
                handlers[kind](batch)
                pending[kind] = []
        for kind, batch in pending.items():
            if batch:
                handlers[kind](batch)

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for future in [pool.submit(segment, s) for s in range(segments)]:
            future.result()


def batched(iterable: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in iterable:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def list_pool_users(cognito: Any, user_pool_id: str, on_page: Callable[[list[dict[str, Any]]], None]) -> None:
    """Every user of a pool, listed as 16 `sub ^=` shards in parallel; `on_page` gets each page."""
    def shard(prefix: str) -> None:
        for page in cognito.list_users(user_pool_id, f'sub ^= "{prefix}"'):
            on_page(page)

    with short_collections(), ThreadPoolExecutor(max_workers=len(items.HEX)) as pool:
        for future in [pool.submit(shard, h) for h in items.HEX]:
            future.result()
