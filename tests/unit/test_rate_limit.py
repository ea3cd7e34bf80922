"""The run-wide Cognito budgets: never more than the rate in any second, nearly all of it used; per
quota category, and under an overall cap."""

from __future__ import annotations

import gc
import http.client
import socket
import threading
import time
from collections.abc import Callable

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from budget import busiest_second, cognito_calls, max_calls_in_any_second, utilisation
from cognito_backup.budget import Budget, CallBudget
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.rate_limit import DynamoDBSchedule, LocalSchedule, RateLimiter, acquire_both, short_collections


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
        RateLimiter(20, DynamoDBSchedule(BackupTableHook("limiter-test", region_name="us-east-1").plain_client,
                                         "limiter-test", "dag/run"))
        for _ in range(4)
    ]
    times = hammer(limiters, threads_each=3, seconds=4)
    assert max_calls_in_any_second([{"time": t} for t in times]) <= 20 + 1
    # From the first call on, as the benchmarks count it: before it, each process's first claims
    # open its connection to the table (0.07 to 0.2 s of the 4 on a host at half speed).
    assert utilisation([{"time": t} for t in times], 20) >= 0.9


class SlowSchedule(LocalSchedule):
    """A schedule whose claims take as long as a round trip to a busy table."""

    def claim(self, count: int, interval: float, not_before: float) -> float:
        time.sleep(0.1)
        return super().claim(count, interval, not_before)


def test_callers_whose_slots_come_during_a_claim_are_not_held_up_by_it():
    # With the limiter locked during a claim, callers woken for their slots meanwhile started too
    # late to use them: 65 calls here, and 14% of a restore's membership slots dropped (measured).
    limiter = RateLimiter(25, SlowSchedule())
    calls = starts({"x": (limiter.acquire, 25)}, 6)
    assert max_calls_in_any_second(calls) <= 25 + 1
    assert len(calls) >= 0.9 * 25 * 6, f"{limiter.woken_late} slots dropped by callers woken late"


def test_unused_slots_go_back_to_the_schedule(aws):
    hook = BackupTableHook("limiter-test", region_name="us-east-1")
    hook.create()
    client = hook.plain_client
    for schedule in (LocalSchedule(), DynamoDBSchedule(client, "limiter-test", "dag/run")):
        now = time.time() + 5
        start = schedule.claim(5, 0.1, now)
        schedule.release(start + 0.1, start + 0.5)  # four slots unused: the tail goes back
        assert schedule.claim(1, 0.1, now) == pytest.approx(start + 0.1, abs=1e-5)
        schedule.release(start + 0.15, start + 0.5)  # someone claimed after: nothing to give back
        assert schedule.claim(1, 0.1, now) == pytest.approx(start + 0.2, abs=1e-5)


def test_a_paced_section_collects_only_what_it_allocates():
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    earlier = [[] for _ in range(50_000)]  # alive before the section: a full collection would scan them
    with short_collections():
        during = [[] for _ in range(1_000)]
        scanned = gc.get_objects()  # what a collection now walks
        assert len(scanned) < 20_000
        assert not any(o is earlier for o in scanned) and any(o is during for o in scanned)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
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


def starts(callers: dict[str, tuple[Callable[[], None], int]], seconds: float) -> list[dict]:
    """Each caller acquires as fast as it can on its threads for `seconds`; the calls that started
    meanwhile, by caller (those of threads still waiting at the end are left out)."""
    started: list[dict] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def run(name: str, acquire: Callable[[], None]) -> None:
        while time.time() < stop:
            acquire()
            with lock:
                started.append({"time": time.time(), "category": name})

    workers = [threading.Thread(target=run, args=(name, acquire))
               for name, (acquire, threads) in callers.items() for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [c for c in started if c["time"] < stop]


def of(calls: list[dict], category: str) -> list[dict]:
    """The calls of `category`, of whichever process ("<category>/<process>") unless it names one."""
    return [c for c in calls if c["category"] == category or c["category"].split("/")[0] == category]


def test_a_call_holds_a_slot_of_its_category_and_one_of_the_overall_cap():
    # A category of 8 a second under an overall cap of 12, which callers of the cap alone keep busy.
    overall, a = RateLimiter(12, LocalSchedule()), RateLimiter(8, LocalSchedule())
    calls = starts({"a": (lambda: acquire_both(a, overall), 6), "cap alone": (overall.acquire, 6)}, 4)
    assert max_calls_in_any_second(calls) <= 12 + 1
    assert max_calls_in_any_second(of(calls, "a")) <= 8 + 1
    assert len(calls) >= 0.9 * 12 * 4  # slots taken from callers of the cap alone are used, not lost
    assert len(of(calls, "a")) >= 0.5 * 8 * 4


def test_a_category_below_the_cap_keeps_its_own_budget_and_uses_it():
    overall, a = RateLimiter(12, LocalSchedule()), RateLimiter(8, LocalSchedule())
    calls = starts({"a": (lambda: acquire_both(a, overall), 6)}, 4)
    assert max_calls_in_any_second(calls) <= 8 + 1
    assert len(calls) >= 0.9 * 8 * 4  # waiting on both schedules wastes none of its slots
    # Under a cap of 30 that callers of the cap alone keep busy too.
    overall, a = RateLimiter(30, LocalSchedule()), RateLimiter(8, LocalSchedule())
    calls = starts({"a": (lambda: acquire_both(a, overall), 8), "cap alone": (overall.acquire, 8)}, 4)
    assert max_calls_in_any_second(calls) <= 30 + 1 and max_calls_in_any_second(of(calls, "a")) <= 8 + 1
    assert len(of(calls, "a")) >= 0.9 * 8 * 4 and len(calls) >= 0.9 * 30 * 4


def test_two_categories_below_a_binding_cap_share_it():
    # 16 calls a second wanted, 12 allowed. Their slots rarely coincide with free ones of the cap:
    # about 0.83 of the cap is used (measured); neither category starves.
    overall, a, b = RateLimiter(12, LocalSchedule()), RateLimiter(8, LocalSchedule()), RateLimiter(8, LocalSchedule())
    calls = starts({"a": (lambda: acquire_both(a, overall), 4), "b": (lambda: acquire_both(b, overall), 4)}, 4)
    assert max_calls_in_any_second(calls) <= 12 + 1
    assert max(max_calls_in_any_second(of(calls, "a")), max_calls_in_any_second(of(calls, "b"))) <= 8 + 1
    assert len(calls) >= 0.75 * 12 * 4
    assert min(len(of(calls, "a")), len(of(calls, "b"))) >= 0.25 * 12 * 4


def test_calls_alternating_the_cap_alone_and_a_category_under_it_use_the_cap():
    # A restore's user step: each thread creates a user (the cap alone) and then sets its password
    # (a category of 12.5 a second under a cap of 15). Slots given back unused shortly before their
    # time went to nobody: 0.915 of the cap was used (measured); 0.98 once callers waiting for
    # later slots take them.
    overall, passwords = RateLimiter(15, LocalSchedule()), RateLimiter(12.5, LocalSchedule())
    started: list[dict] = []
    lock = threading.Lock()
    stop = time.time() + 6

    def user() -> None:
        while time.time() < stop:
            for name, acquire in (("create", overall.acquire), ("password", lambda: acquire_both(passwords, overall))):
                acquire()
                with lock:
                    started.append({"time": time.time(), "category": name})
                time.sleep(0.01)  # the call

    workers = [threading.Thread(target=user) for _ in range(15)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    calls = [c for c in started if c["time"] < stop]
    assert max_calls_in_any_second(calls) <= 15 + 1 and max_calls_in_any_second(of(calls, "password")) <= 12.5 + 1
    assert len(calls) >= 0.94 * 15 * 6, overall.dropped


def test_a_slot_given_back_goes_to_a_caller_waiting_for_a_later_one():
    limiter = RateLimiter(10, LocalSchedule())
    given = limiter.reserve(not_before=time.time() + 0.3)
    began: list[float] = []
    waiter = threading.Thread(target=lambda: (limiter.acquire(), began.append(time.time())))
    waiter.start()
    time.sleep(0.2)
    limiter.give_back(given)  # shortly before its time: the waiter takes it
    waiter.join()
    assert given <= began[0] < given + limiter.late
    # Its own slot, the next one, goes to whoever asks next.
    assert limiter.reserve() == pytest.approx(given + limiter.interval)


def test_a_call_holding_two_slots_starts_at_neither_before_its_time():
    # This process holds a slot of each limiter, the category's just before the overall one's, and
    # the overall schedule is the further ahead: the caller queues there, then finds the category's.
    category, overall = RateLimiter(10, LocalSchedule()), RateLimiter(4, LocalSchedule())
    at = time.time() + 0.3
    overall_slot = overall.reserve(not_before=at)
    category_slot = category.reserve(not_before=at - category.late / 2)
    overall.give_back(overall_slot)
    category.give_back(category_slot)
    acquire_both(category, overall)
    began = time.time()
    assert overall_slot <= began < category_slot + category.late


def test_budgets_per_category_are_shared_by_processes_in_the_table(aws):
    hook = BackupTableHook("limiter-test", region_name="us-east-1")
    hook.create()
    client = hook.plain_client
    # UserCreation 12 and UserList 15 below the cap of 20 (their own schedules and the overall one);
    # UserResourceUpdate 25 at or above it (the overall schedule alone).
    budget = Budget.of(tps=20, share=0.5, category_tps={"UserCreation": 12}, quotas={"UserResourceUpdate": 50})
    processes = [CallBudget(budget, lambda c: DynamoDBSchedule(client, "limiter-test", f"dag/run#{c}" if c else "dag/run"))
                 for _ in range(2)]
    operations = {"UserCreation": "AdminCreateUser", "UserResourceUpdate": "AdminAddUserToGroup", "UserList": "ListUsers"}
    calls = starts({f"{category}/{i}": (lambda p=p, op=op: p.acquire(op), 2)
                    for i, p in enumerate(processes) for category, op in operations.items()}, 4)
    assert max_calls_in_any_second(calls) <= 20 + 1
    for category in operations:
        assert max_calls_in_any_second(of(calls, category)) <= budget.rate(category) + 1, category
        assert all(of(calls, f"{category}/{i}") for i in range(len(processes))), category
    assert utilisation(calls, 20) >= 0.9  # from the first call on (see above)
    keys = {i["id"]["S"] for i in client.scan(TableName="limiter-test")["Items"]}
    assert keys == {"rate-limit#dag/run", "rate-limit#dag/run#UserCreation", "rate-limit#dag/run#UserList"}


def test_without_a_cap_each_category_has_its_own_budget_side_by_side():
    budget = Budget.of(share=0.4)  # UserList 12, UserResourceUpdate 10
    made: list[str | None] = []
    paced = CallBudget(budget, lambda c: made.append(c) or LocalSchedule())
    calls = starts({"UserList": (lambda: paced.acquire("ListUsers"), 4),
                    "UserResourceUpdate": (lambda: paced.acquire("AdminDisableUser"), 4)}, 3)
    assert sorted(made) == ["UserList", "UserResourceUpdate"]
    assert max_calls_in_any_second(of(calls, "UserList")) <= 12 + 1
    assert max_calls_in_any_second(of(calls, "UserResourceUpdate")) <= 10 + 1
    assert len(calls) >= 0.9 * 22 * 3


@pytest.mark.parametrize("budget", [
    Budget.of(tps=10, share=1.0),  # UserList 30, UserResourceUpdate 25: both above the cap
    Budget.of(tps=None),  # no share: one budget of 10 for all calls, as before categories
], ids=["cap below both categories", "no share"])
def test_one_schedule_paces_calls_of_every_category(budget):
    made: list[str | None] = []
    paced = CallBudget(budget, lambda c: made.append(c) or LocalSchedule())
    calls = starts({"UserList": (lambda: paced.acquire("ListUsers"), 4),
                    "UserResourceUpdate": (lambda: paced.acquire("AdminDisableUser"), 4)}, 3)
    assert made == [None] and max_calls_in_any_second(calls) <= 10 + 1
    assert len(calls) >= 0.9 * 10 * 3


def test_a_call_held_up_between_its_slot_and_the_wire_waits_for_a_new_slot(aws):
    # A busy worker can stall a thread after its slot's check and before its request's first byte
    # (CPU starved, or waiting for the GIL): 22 calls in one second reached Cognito at a budget of 20
    # when a restore's verification listed on an overloaded host. Here every call that comes to its
    # slot during a 250 ms stall goes out only after it, as from a stalled process.
    cognito = aws.client("cognito-idp", "us-east-1")
    pool = cognito.create_user_pool(PoolName="stalls")["UserPool"]["Id"]
    limiter = RateLimiter(20, LocalSchedule())
    limiter.attach(cognito)
    stalls = [time.time() + 1.0 + 1.5 * i for i in range(4)]

    def stall(**_kwargs) -> None:
        now = time.time()
        ends = [s + 0.25 for s in stalls if s <= now < s + 0.25]
        if ends:
            time.sleep(ends[0] - now)

    cognito.meta.events.register_last("before-send.cognito-idp", stall)
    stop = stalls[-1] + 1.5
    mark = aws.mark()

    def caller() -> None:
        while time.time() < stop:
            cognito.list_users(UserPoolId=pool, Limit=1)

    workers = [threading.Thread(target=caller) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    calls = cognito_calls(aws.requests(since=mark))
    assert max_calls_in_any_second(calls) <= 20 + 1, busiest_second(calls)
    # Only the stalled calls' slots go unused: the budget is still used.
    assert len(calls) >= 0.8 * 20 * (stop - stalls[0] + 1.0)
    assert limiter.woken_late >= 4


def test_a_call_stalled_between_its_check_and_the_socket_gives_up_a_later_slot(aws, monkeypatch):
    # Even the few instructions between the check at the socket and the request's first byte can
    # stall on a starved host (a collection, the GIL, the kernel's scheduler): a restore's
    # verification sent three calls together after such a stall, and one second held 22 calls at a
    # budget of 20. Here every request whose bytes go out during a 250 ms stall waits for its end.
    cognito = aws.client("cognito-idp", "us-east-1")
    pool = cognito.create_user_pool(PoolName="late-sends")["UserPool"]["Id"]
    limiter = RateLimiter(20, LocalSchedule())
    limiter.attach(cognito)
    stalls = [time.time() + 1.0 + 1.5 * i for i in range(4)]
    send = http.client.HTTPConnection.send

    def stalled(connection, data) -> None:
        now = time.time()
        ends = [s + 0.25 for s in stalls if s <= now < s + 0.25]
        if ends:
            time.sleep(ends[0] - now)
        return send(connection, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", stalled)
    stop = stalls[-1] + 1.5
    mark = aws.mark()

    def caller() -> None:
        while time.time() < stop:
            cognito.list_users(UserPoolId=pool, Limit=1)

    workers = [threading.Thread(target=caller) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    calls = cognito_calls(aws.requests(since=mark))
    assert max_calls_in_any_second(calls) <= 20 + 1, busiest_second(calls)
    # Only a slot for each call sent late goes unused: the budget is still used.
    assert limiter.late_sends >= 4 * 4
    assert len(calls) >= 0.8 * 20 * (stop - stalls[0] + 1.0)


def test_an_attempt_that_never_reached_the_socket_leaves_no_check_for_the_next_request(aws):
    # HTTPS connects before the request's first byte: a refused connection ends the attempt there.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    limiter = RateLimiter(20, LocalSchedule())
    paced = limiter.attach(boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=f"https://127.0.0.1:{port}"))
    with pytest.raises(EndpointConnectionError):
        paced.list_users(UserPoolId="us-east-1_none")
    attempts = limiter.calls
    time.sleep(3 * limiter.late)
    # The same thread's next request, to another client, goes out as it is.
    aws.client("dynamodb", "us-east-1").list_tables()
    assert attempts >= 1
    assert (limiter.calls, limiter.dropped, limiter.woken_late) == (attempts, 0, 0)
