"""The emulator's state lock: reentrant, and a single-item call waits for no query in line."""

from __future__ import annotations

import threading
import time

import pytest

from localaws.backends import StateLock


def waiting(lock: StateLock, urgent: bool, order: list[str], name: str) -> threading.Thread:
    def take() -> None:
        lock.acquire(urgent=urgent)
        order.append(name)
        lock.release()

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def test_urgent_waiters_go_before_ordinary_ones_that_waited_longer() -> None:
    lock, order = StateLock(), []
    lock.acquire()
    threads = []
    for name, urgent in [("query-1", False), ("query-2", False), ("get-1", True), ("query-3", False), ("get-2", True)]:
        threads.append(waiting(lock, urgent, order, name))
        time.sleep(0.05)  # each in line before the next
    assert order == []
    lock.release()
    for thread in threads:
        thread.join(5)
    assert order[:2] == ["get-1", "get-2"]
    assert sorted(order[2:]) == ["query-1", "query-2", "query-3"]


def test_reentrant_and_held_by_one_thread_only() -> None:
    lock = StateLock()
    with lock, lock.urgent(), lock:
        other = threading.Thread(target=lambda: lock.acquire() and lock.release())
        other.start()
        other.join(0.2)
        assert other.is_alive()  # still waiting: the lock is this thread's, three deep
    other.join(5)
    assert not other.is_alive()
    with pytest.raises(RuntimeError):
        lock.release()
