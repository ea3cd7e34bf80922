"""The run-wide Cognito budget: never more than the rate in any second, nearly all of it used."""

from __future__ import annotations

import gc
import threading
import time

import boto3
import pytest

from budget import max_calls_in_any_second
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.rate_limit import DynamoDBSchedule, LocalSchedule, RateLimiter, short_collections


def hammer(limiters: list[RateLimiter], threads_each: int, seconds: float) -> list[float]:
    """Callers acquire as fast as they can for `seconds`; returns the times calls started."""
    times: list[float] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def caller(limiter: RateLimiter) -> None:
        while time.time() < stop:
            limiter.acquire()
            with lock:
                times.append(time.time())

    workers = [threading.Thread(target=caller, args=(lim,)) for lim in limiters for _ in range(threads_each)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return times


@pytest.mark.parametrize("rate", [5, 30])
def test_local_limiter_keeps_the_rate_and_uses_it(rate):
    times = hammer([RateLimiter(rate, LocalSchedule())], threads_each=8, seconds=3)
    assert max_calls_in_any_second([{"time": t} for t in times]) <= rate + 1
    assert len(times) >= 0.9 * rate * 3


def test_shared_schedule_paces_several_processes_together(aws):
    hook = BackupTableHook("limiter-test", region_name="us-east-1")
    hook.create()
    # Four "tasks", each with its own client and limiter, share one schedule in the table.
    limiters = [
        RateLimiter(20, DynamoDBSchedule(boto3.resource("dynamodb", region_name="us-east-1").meta.client,
                                         "limiter-test", "dag/run"))
        for _ in range(4)
    ]
    times = hammer(limiters, threads_each=3, seconds=4)
    assert max_calls_in_any_second([{"time": t} for t in times]) <= 20 + 1
    assert len(times) >= 0.9 * 20 * 4


def test_unused_slots_go_back_to_the_schedule(aws):
    BackupTableHook("limiter-test", region_name="us-east-1").create()
    client = boto3.resource("dynamodb", region_name="us-east-1").meta.client
    for schedule in (LocalSchedule(), DynamoDBSchedule(client, "limiter-test", "dag/run")):
        now = time.time() + 5
        start = schedule.claim(5, 0.1, now)
        schedule.release(start + 0.1, start + 0.5)  # four slots unused: the tail goes back
        assert schedule.claim(1, 0.1, now) == pytest.approx(start + 0.1, abs=1e-5)
        schedule.release(start + 0.15, start + 0.5)  # someone claimed after: nothing to give back
        assert schedule.claim(1, 0.1, now) == pytest.approx(start + 0.2, abs=1e-5)


def test_a_paced_section_collects_only_what_it_allocates():
    assert gc.get_freeze_count() == 0
    earlier = [[] for _ in range(50_000)]  # alive before the section: a full collection would scan them
    with short_collections():
        during = [[] for _ in range(1_000)]
        scanned = gc.get_objects()  # what a collection now walks
        assert len(scanned) < 20_000
        assert not any(o is earlier for o in scanned) and any(o is during for o in scanned)
    assert gc.get_freeze_count() == 0
    assert any(o is earlier for o in gc.get_objects())  # collected as usual again


def test_a_paced_section_leaves_what_someone_else_froze_frozen():
    gc.freeze()  # as Airflow's LocalExecutor does before forking its workers
    try:
        frozen = gc.get_freeze_count()
        with short_collections():
            pass
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
