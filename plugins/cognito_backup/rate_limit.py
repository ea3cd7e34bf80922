"""A Cognito call budget shared by all tasks and threads of a DAG run: a schedule of call slots.

Cognito's quotas are per account and Region and shared with the customer's live
application, so a run must never exceed its budget in any one-second window, however
many tasks happen to run at once, and should use nearly all of it. A run has one budget for
all its calls, or one per quota category (see `budget`): each is one schedule.

The budget is a schedule of call slots, `1/rate` seconds apart (GCRA: a "theoretical
arrival time" that each claim pushes forward). A process claims a short block of
consecutive slots from the shared schedule, as many as it has callers waiting, and hands
them to its threads; a call starts only early in its slot, and a slot not used in time is
dropped, never saved up, so no window can hold more than `rate` calls plus one. The schedule lives in one item of
the backup table, updated with conditional writes, so tasks on different workers (Celery on
MWAA, LocalExecutor processes) share it. Every HTTP attempt is paced, retries included,
because the limiter hooks botocore's `before-send` event.
"""

from __future__ import annotations

import bisect
import gc
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from cognito_backup import items

if TYPE_CHECKING:
    from botocore.client import BaseClient

# A claim covers this much of the schedule: small enough that slots a task leaves unused
# when it finishes cost little, large enough that claims stay a few per second.
BLOCK_SECONDS = 0.25
# A call may start at most this fraction of an interval after its slot; a later slot is
# dropped. Each one-second window then holds at most rate + 1 call starts, with half an
# interval to spare for the time a request takes to reach Cognito on a busy host.
LATE_FRACTION = 0.5
# Calls reach Cognito up to this much later than they start (the network, a busy host,
# the far end's own queueing): slots are spaced so that even then no one-second window, as
# Cognito counts it, holds more than rate + 1 calls. Costs about 3% of a budget of 25.
ARRIVAL_JITTER_SECONDS = 0.05
# Shared schedule items expire (DynamoDB TTL) a day after their last use.
SCHEDULE_TTL_SECONDS = 86_400


class SlotSchedule(Protocol):
    def claim(self, count: int, interval: float, not_before: float) -> float:
        """Reserve `count` consecutive slots from `not_before` on; return the first one's time."""

    def release(self, unused_from: float, block_end: float) -> None:
        """Give back the tail of the latest block if nobody has claimed after it."""


class LocalSchedule:
    """A schedule shared by the threads of one process (tests, dry runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat = 0.0

    def claim(self, count: int, interval: float, not_before: float) -> float:
        with self._lock:
            start = max(self._tat, not_before)
            self._tat = start + count * interval
            return start

    def release(self, unused_from: float, block_end: float) -> None:
        with self._lock:
            if abs(self._tat - block_end) < 1e-9:
                self._tat = unused_from


def _micros(t: float) -> int:
    return int(round(t * 1_000_000))


class DynamoDBSchedule:
    """A schedule in one item of the backup table, shared by every worker of a DAG run."""

    def __init__(self, client: BaseClient, table_name: str, key: str) -> None:
        # A DynamoDB *resource*'s client: it takes and returns plain Python values.
        self.client = client
        self.table_name = table_name
        self.key = {"id": f"{items.RATE_LIMIT_ID}#{key}", "type": items.RATE_LIMIT}
        self._busy = False

    def _update(self, expression: str, condition: str, values: dict) -> dict:
        return self.client.update_item(
            TableName=self.table_name,
            Key=self.key,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )

    def claim(self, count: int, interval: float, not_before: float) -> float:
        span = _micros(count * interval)
        while True:
            now = _micros(max(time.time(), not_before))
            expires = int(time.time()) + SCHEDULE_TTL_SECONDS
            # Try first what the last claim found, so that a busy schedule costs one write.
            attempts = (self._append, self._start_idle) if self._busy else (self._start_idle, self._append)
            for attempt in attempts:
                try:
                    start = attempt(now, span, expires)
                except ClientError as err:
                    if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    continue
                self._busy = attempt == self._append
                return start / 1_000_000
            # The schedule changed between the two writes: try again.

    def _start_idle(self, now: int, span: int, expires: int) -> int:
        """The schedule is idle: the block starts now."""
        self._update("SET tat = :end, expiresAt = :exp", "attribute_not_exists(tat) OR tat < :now",
                     {":end": now + span, ":now": now, ":exp": expires})
        return now

    def _append(self, now: int, span: int, expires: int) -> int:
        """The schedule runs ahead of now: the block starts where it ends (an atomic add)."""
        out = self._update("SET tat = tat + :span, expiresAt = :exp", "tat >= :now",
                           {":span": span, ":now": now, ":exp": expires})
        return int(out["Attributes"]["tat"]) - span

    def release(self, unused_from: float, block_end: float) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self.key,
                UpdateExpression="SET tat = :unused",
                ConditionExpression="tat = :end",
                ExpressionAttributeValues={":unused": _micros(unused_from), ":end": _micros(block_end)},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class RateLimiter:
    """Paces calls of one process to its share of a run-wide schedule of slots."""

    def __init__(self, rate: float, schedule: SlotSchedule | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # Slots s, s+i, s+2i...: a window of 1 s plus the jitter plus a late start holds
        # fewer than rate + 1 + 1 of them when (1 + jitter) / i + late < rate + 1.
        self.interval = max(1.0 / rate, 1.001 * (1 + ARRIVAL_JITTER_SECONDS) / (rate + 1 - LATE_FRACTION))
        self.late = self.interval * LATE_FRACTION
        self.block = max(1, round(rate * BLOCK_SECONDS))
        self.schedule = schedule or LocalSchedule()
        self._slots: deque[float] = deque()  # in time order
        # Slots reserved by callers of this limiter alone, which a caller that must start at a
        # given time (`acquire_both`) may take from them; and those taken, until their callers notice.
        self._yielding: set[float] = set()
        self._taken: set[float] = set()
        self._block_end = 0.0
        self._lock = threading.Lock()
        self._waiting = 0
        self._granted: deque[float] = deque()
        self._claim_seconds = 0.0
        self._waiting_lock = threading.Lock()
        self.calls = 0
        self.dropped = 0

    @property
    def lead(self) -> float:
        """How long before a slot to reserve it, so that a claim's round trip ends in time."""
        return 2 * self._claim_seconds + 0.002

    def acquire(self) -> None:
        """Block until this caller's slot; then the caller may start one call."""
        while not self.wait(self.reserve(yielding=True)):
            pass

    def reserve(self, not_before: float = 0.0, alone: bool = False, yielding: bool = False,
                take: bool = False) -> float:
        """Take the first slot this process holds that is still usable at `not_before` (or now),
        claiming a block of the shared schedule when it holds none; the caller then waits for it.

        :param alone: claim one slot, not a block: no other caller would use the next ones in time.
        :param yielding: the caller (of `acquire`) gives its slot up to a `take`.
        :param take: a yielding caller's slot may be taken, when it is earlier than any free one.
        """
        with self._waiting_lock:
            self._waiting += 1
        with self._lock:
            while True:
                now = time.time()
                while self._slots and self._slots[0] + self.late <= now:
                    self._slots.popleft()
                    self.dropped += 1
                usable_at = max(now, not_before)
                index = next((i for i, s in enumerate(self._slots) if s + self.late > usable_at), None)
                held = min((s for s in self._yielding if s + self.late > usable_at), default=None) if take else None
                if held is not None and (index is None or held < self._slots[index]):
                    # Its caller notices when it wakes, and queues again.
                    self._yielding.remove(held)
                    self._taken.add(held)
                    slot = held
                    break
                if index is not None:
                    slot = self._slots[index]
                    del self._slots[index]  # earlier ones stay for this process's other callers
                    break
                # Claim what this process is about to use: the callers waiting, or its use
                # of the last second scaled to a block, whichever is more (at most a block).
                # Slots nobody here would use stay in the shared schedule for other tasks.
                while self._granted and self._granted[0] < now - 1.0:
                    self._granted.popleft()
                recent = math.ceil(len(self._granted) * BLOCK_SECONDS)
                count = 1 if alone else max(1, min(max(self._waiting, recent), self.block))
                # A block starts after the claim's own round trip, so its first slots are
                # not already past when the claim returns.
                asked = time.time()
                start = self.schedule.claim(count, self.interval, max(asked + self._claim_seconds, not_before))
                self._claim_seconds = 0.7 * self._claim_seconds + 0.3 * (time.time() - asked)
                self._slots.extend(start + i * self.interval for i in range(count))
                self._block_end = start + count * self.interval
            self.calls += 1
            self._granted.append(slot)
            if yielding:
                self._yielding.add(slot)
        with self._waiting_lock:
            self._waiting -= 1
        return slot

    def wait(self, slot: float) -> bool:
        """Sleep until `slot`; False when it was taken meanwhile, or woken too late to use it (it is
        then dropped)."""
        delay = slot - time.time()
        if delay > 0:
            time.sleep(delay)
        if not self.keep(slot):
            return False
        if time.time() > slot + self.late:
            # Woken late (a busy machine): calling now could crowd the next slot's call.
            with self._lock:
                self.calls -= 1
                self.dropped += 1
            return False
        return True

    def keep(self, slot: float) -> bool:
        """Make a yielding caller's slot its own for good; False when it was taken meanwhile."""
        with self._lock:
            if slot in self._taken:
                self._taken.remove(slot)
                self.calls -= 1
                return False
            self._yielding.discard(slot)
            return True

    def give_back(self, slot: float) -> None:
        """Return a reserved slot unused: another caller of this process may still use it in time."""
        with self._lock:
            self.calls -= 1
            try:
                self._granted.remove(slot)
            except ValueError:
                pass
            if slot + self.late > time.time():
                bisect.insort(self._slots, slot)
            else:
                self.dropped += 1

    def close(self) -> None:
        """Hand slots this process will not use back to the schedule, when still possible."""
        with self._lock:
            # Only the unused tail of the latest block can go back: slots before it may have been used.
            unused_from = self._block_end
            for slot in reversed(self._slots):
                if abs(slot - (unused_from - self.interval)) > 1e-6:
                    break
                unused_from = slot
            if unused_from < self._block_end:
                self.schedule.release(unused_from, self._block_end)
            self._slots.clear()

    def attach(self, client: BaseClient) -> BaseClient:
        """Pace every HTTP attempt `client` makes, retries included."""
        return pace(client, lambda _operation: self.acquire())


def pace(client: BaseClient, acquire: Callable[[str], None]) -> BaseClient:
    """Call `acquire(operation)` before every HTTP attempt `client` makes, retries included."""
    def before_send(event_name: str = "", **_kwargs: Any) -> None:
        acquire(event_name.rsplit(".", 1)[-1])  # before-send.<service>.<Operation>
        return None  # a value here would stand in for the HTTP response

    client.meta.events.register(f"before-send.{client.meta.service_model.service_name}", before_send)
    return client


def acquire_both(category: RateLimiter, overall: RateLimiter) -> None:
    """Block until the caller holds a slot of its category's limiter and one of the overall
    limiter, both usable now; then it may start one call.

    The call starts within the late window of both slots, so neither schedule's bound moves. The
    category's slot comes first (its schedule is the sparser one: the category's budget is below
    the overall cap). Shortly before it, the overall limiter is asked for a slot at that time (a
    block claimed further ahead would leave the overall schedule idle meanwhile while other
    callers wait behind it). When the overall schedule's first slot is later (it is the busier
    one), the caller keeps that slot, its place in the queue, and takes the category's slot at
    it instead. Either limiter may hand over a slot another caller of this process reserved but
    does not yet hold for good (a caller of the overall budget alone, or one still waiting for
    its category's slot): that caller queues again, and the slot is used either way.
    """
    while True:
        first = category.reserve(yielding=True)
        _sleep_until(first - overall.lead)
        if not category.keep(first):
            continue
        while True:
            second = overall.reserve(first, take=True)
            if second >= first + category.late:
                category.give_back(first)
                _sleep_until(second - category.lead)
                first = category.reserve(second, alone=True, take=True)
                if first >= second + overall.late:  # the category is busy at that time too: from its slot
                    overall.give_back(second)
                    _sleep_until(first - overall.lead)
                    continue
            _sleep_until(max(first, second))
            now = time.time()
            if now <= first + category.late and now <= second + overall.late:
                return
            # Woken too late (a busy machine): both slots are dropped, and a new pair sought.
            category.give_back(first)
            overall.give_back(second)
            break


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


@contextmanager
def short_collections() -> Iterator[None]:
    """Keep Python's full garbage collections short while threads make paced calls.

    A full collection stops every thread while it scans every object of the process: 0.65 to
    0.87 s in an `airflow dags test` process that has run a few tasks (measured), enough to
    leave a stretch of the budget unused, and calls whose slots fell in the pause start
    together after it. Objects alive before the section (Airflow, libraries, earlier tasks'
    garbage) are set aside (`gc.freeze`) until it ends, so a collection within it scans only
    what the section allocates; the rest is collected after it. Objects someone else froze
    (Airflow's LocalExecutor freezes its workers' heap before forking them) stay frozen.
    """
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()


__all__ = ["DynamoDBSchedule", "LocalSchedule", "RateLimiter", "acquire_both", "pace", "short_collections"]
