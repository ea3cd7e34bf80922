"""Compare what Cognito lists with what the table holds, by content digest.

Only new or changed items are written; items whose entity is gone are returned to the
caller, who stages them for the run's deletion guard (`export/guard.py`) only once every
listing they depend on has completed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import TypeVar

Page = TypeVar("Page")

# Pages a listing takes from Cognito while its stored digests are still being read: enough to
# keep its share of the budget busy through several seconds of table reads (8 pages ran out
# after 6 s in a 100,000-user export at 30 calls a second, 64 listings at once), few enough
# that a task holds at most 7,680 listed users meanwhile (8 listings of 16 pages of 60).
LIST_AHEAD = 16
# In `Reconciler.stored`, in place of a digest: the key was listed in this run.
_LISTED = object()


@dataclass
class Counts:
    listed: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    stored: int = 0  # items the table held for the scope before the run
    gone: int = 0  # of those, the ones whose entity is gone from the pool (staged for deletion)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self, prefix: str) -> dict[str, int]:
        return {f"{prefix}_{f.name}": getattr(self, f.name) for f in fields(self)}


class Reconciler:
    """One scope (a shard, the groups, a group's members): stored digests in, changes out.

    A key listed twice in one scope (a listing that pages while the pool changes) is written
    once: its writer need not look for the same key within a batch (`BackupTableHook.writer`).
    """

    def __init__(self, stored: Iterable[tuple[str, str]], full_refresh: bool = False) -> None:
        self.stored: dict[str, object] = dict(stored)
        self.full_refresh = full_refresh
        self.counts = Counts(stored=len(self.stored))
        self._lock = threading.Lock()

    def needs_write(self, key: str, digest: str) -> bool:
        """Note `key` as present; True when its item must be (re)written."""
        with self._lock:
            old = self.stored.get(key)
            if old is _LISTED:
                return False
            self.stored[key] = _LISTED
            self.counts.listed += 1
            changed = self.full_refresh or old != digest
            if changed:
                self.counts.written += 1
            else:
                self.counts.unchanged += 1
            return changed

    def skip(self) -> None:
        """An entity we do not back up (a federated user); a stored item of it stays unlisted, so goes."""
        with self._lock:
            self.counts.skipped += 1

    def gone(self) -> list[str]:
        """Keys stored but not listed. Call only after the scope's listing completed."""
        found = [key for key, digest in self.stored.items() if digest is not _LISTED]
        self.counts.gone = len(found)
        return found


def reconciling(
    stored: Callable[[], Iterable[tuple[str, str]]], pages: Iterable[Page], full_refresh: bool = False,
    ahead: int = LIST_AHEAD, reader: Executor | None = None,
) -> tuple[Reconciler, Iterator[Page]]:
    """A scope's `Reconciler` and its listed `pages`, with the stored digests read in a thread
    while the listing starts: the budget is spent from the first second, not after the reads.

    Returns once the digests are in, with up to `ahead` pages already listed.

    :param reader: where the digests are read: a task's executor shared by its listings (a
        membership task reconciles hundreds of groups), or, when None, a thread of its own.
    """
    pages = iter(pages)
    early: list[Page] = []
    with nullcontext(reader) if reader is not None else ThreadPoolExecutor(max_workers=1) as reads:
        reconciler = reads.submit(lambda: Reconciler(stored(), full_refresh))
        while not reconciler.done() and len(early) < ahead:
            page = next(pages, None)
            if page is None:
                break
            early.append(page)
        rec = reconciler.result()
    return rec, itertools.chain(early, pages)
