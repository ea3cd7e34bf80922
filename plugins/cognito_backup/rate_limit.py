"""A Cognito call budget shared by all tasks and threads of a DAG run: a schedule of call slots.

Cognito's quotas are per account and Region and shared with the customer's live
application, so a run must never exceed its budget in any one-second window, however
many tasks happen to run at once, and should use nearly all of it. A run has one budget for
all its calls, or one per quota category (see `budget`): each is one schedule.

The budget is a schedule of call slots, `1/rate` seconds apart (GCRA: a "theoretical arrival
time" that each claim pushes forward). A process claims a short block of consecutive slots from
the shared schedule, as many as it has callers waiting or used in the last second, and hands
them to its threads; a call starts only early in its slot, and a slot not used in time is
dropped, never saved up, so no window can hold more than `rate` calls plus one. The schedule
lives in one item of the backup table, updated with conditional writes, so tasks on different
workers (Celery on MWAA, LocalExecutor processes) share it. Every HTTP attempt is paced,
retries included, because the limiter hooks botocore's `before-send` event; the slot is checked
again as the request's first byte goes to the socket (`pace`), and a request that still went
out late gives up a later slot (`RateLimiter.forfeit`).
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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from botocore.awsrequest import AWSConnection
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
# A call whose first byte went out this long after its slot's late window counts as sent late
# (`RateLimiter.forfeit`): half the jitter allowance, the rest for the network.
SENT_LATE_SECONDS = ARRIVAL_JITTER_SECONDS / 2
# Within a paced section, a young collection once this many containers are new, not 700: a page
# of 60 users parses into about 700 dicts and lists, so the default scanned (and kept) nearly
# every page while it was still in use.
YOUNG_THRESHOLD = 20_000
# Shared schedule items expire (DynamoDB TTL) a day after their last use.
SCHEDULE_TTL_SECONDS = 86_400


class Held(NamedTuple):
    """The slots a caller holds for one call (one of each schedule that paces it)."""

    slots: tuple[tuple[RateLimiter, float], ...]

    @property
    def deadline(self) -> float:
        """The latest the call may start: within the late window of every slot."""
        return min(slot + limiter.late for limiter, slot in self.slots)

    def missed(self) -> None:
        """The call did not start in time: its slots are dropped."""
        for limiter, slot in self.slots:
            limiter.missed(slot)

    def sent_late(self) -> None:
        """The call reached the wire later than its slots allow: each schedule gives up a later slot."""
        for limiter, slot in self.slots:
            limiter.forfeit(slot)


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
        # A plain DynamoDB client (DynamoDB JSON both ways): a claim is made every quarter of a
        # second in each process, and a resource's client would deep-copy and convert each one.
        self.client = client
        self.table_name = table_name
        self.key = items.to_dynamodb({"id": f"{items.RATE_LIMIT_ID}#{key}", "type": items.RATE_LIMIT})
        self._busy = False

    def _update(self, expression: str, condition: str, values: dict[str, int], returns: str = "UPDATED_NEW") -> dict:
        return self.client.update_item(
            TableName=self.table_name,
            Key=self.key,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=items.to_dynamodb(values),
            ReturnValues=returns,
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
        return int(out["Attributes"]["tat"]["N"]) - span

    def release(self, unused_from: float, block_end: float) -> None:
        try:
            self._update("SET tat = :unused", "tat = :end",
                         {":unused": _micros(unused_from), ":end": _micros(block_end)}, returns="NONE")
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
        # Slots reserved by callers that do not yet hold them for good, which a caller that must
        # start at a given time (`acquire_both`) may take from them; those taken, and those whose
        # callers were moved to an earlier slot given back (`give_back`), until their callers notice.
        self._yielding: set[float] = set()
        self._movable: set[float] = set()  # of those, slots of callers that need no other slot
        self._taken: set[float] = set()
        self._moved: dict[float, float] = {}
        self._block_end = 0.0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a sleeping caller's slot was taken, or it was moved
        self._claim_lock = threading.Lock()
        self._waiting = 0
        self._granted: deque[float] = deque()
        self._claim_seconds = 0.0
        self._waiting_lock = threading.Lock()
        self._latest = 0.0  # the latest slot granted here
        self._queued = 0.0  # the latest slot of another limiter reserved for a caller of this one (`queue_after`)
        self.calls = 0
        self.dropped = 0  # slots claimed and not used: nobody took them in time, or woken late
        self.woken_late = 0
        self.late_sends = 0  # calls that reached the wire after their slot's late window (`forfeit`)

    @property
    def next_free(self) -> float:
        """The earliest this process's next slot could be, as far as it knows."""
        return max(self._latest, self._queued) + self.interval

    @property
    def horizon(self) -> float:
        """How far ahead this process has claimed the schedule (at least now)."""
        return max(time.time(), self._block_end)

    def queue_after(self, limiter: RateLimiter) -> float:
        """Reserve (yielding) a slot of `limiter` no earlier than this limiter's next slot, as far as
        this process knows: callers of this limiter then hold `limiter`'s slots this limiter's interval
        apart, and leave those between to other callers."""
        slot = limiter.reserve(prefer=self.next_free, yielding=True)
        self._queued = max(self._queued, slot)  # a hint: a lost update only costs a little spacing
        return slot

    @property
    def lead(self) -> float:
        """How long before a slot to reserve it, so that a claim's round trip ends in time."""
        return 2 * self._claim_seconds + 0.002

    def acquire(self) -> Held:
        """Block until this caller's slot; then the caller may start one call."""
        while True:
            held = self.wait(self.reserve(yielding=True, movable=True))
            if held is not None:
                return Held(((self, held),))

    def reserve(self, not_before: float = 0.0, alone: bool = False, within: float = math.inf,
                prefer: float = 0.0, yielding: bool = False, take: bool = False, movable: bool = False) -> float:
        """Take the first slot this process holds that is still usable at `not_before` (or now),
        claiming a block of the shared schedule when it holds none; the caller then waits for it.

        :param alone: claim one slot, not a block: no other caller would use the next ones in time.
        :param within: a slot this process holds will do only before `not_before + within` (a caller
            that must start with a slot of another schedule); later ones stay for its other callers.
        :param prefer: of the slots this process holds, one from this time on, when it holds one; the
            earlier ones stay for its other callers.
        :param yielding: the caller gives its slot up to a `take`.
        :param movable: the caller (of `acquire`) needs no other slot: it may be moved to an earlier
            slot given back (`give_back`).
        :param take: a yielding caller's slot may be taken, when it is earlier than any free one.
        """
        with self._waiting_lock:
            self._waiting += 1
        try:
            while True:
                with self._lock:
                    slot = self._take(not_before, within, prefer, take)
                    if slot is not None:
                        return self._grant(slot, yielding, movable)
                # One claim at a time, and without the lock: a claim is a round trip to the table,
                # and callers whose slots come meanwhile must not wait for it (they would start late).
                with self._claim_lock:
                    with self._lock:
                        if self._take(not_before, within, prefer, take, peek=True) is not None:
                            continue  # another caller's claim brought one
                        count = self._claim_count(alone)
                    # A block starts after the claim's own round trip, so its first slots are
                    # not already past when the claim returns.
                    asked = time.time()
                    start = self.schedule.claim(count, self.interval, max(asked + self._claim_seconds, not_before, prefer))
                    self._claim_seconds = 0.7 * self._claim_seconds + 0.3 * (time.time() - asked)
                    with self._lock:
                        self._slots.extend(start + i * self.interval for i in range(count))
                        self._block_end = start + count * self.interval
                        if start >= max(time.time(), not_before) + within:
                            # The schedule is busy then: the caller takes the first slot it got.
                            del self._slots[-count]
                            return self._grant(start, yielding, movable)
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def _take(self, not_before: float, within: float, prefer: float, take: bool, peek: bool = False) -> float | None:
        """The slot a caller gets from those this process holds (see `reserve`), if any; with the lock held."""
        now = time.time()
        while self._slots and self._slots[0] + self.late <= now:
            self._slots.popleft()
            self.dropped += 1
        usable_at = max(now, not_before)
        latest = usable_at + within
        # Slots are told apart by their times: one taken from a caller here, or whose caller was
        # moved, stays out of reach until that caller has noticed (see `hold`).
        free = [i for i, s in enumerate(self._slots)
                if s + self.late > usable_at and s not in self._taken and s not in self._moved]
        index = free[0] if free else None
        if index is not None and prefer - self.late > self._slots[index]:
            index = next((i for i in free if self._slots[i] >= prefer - self.late), None)
        if index is not None and self._slots[index] >= latest:
            index = None
        held = min((s for s in self._yielding if usable_at < s + self.late and s < latest),
                   default=None) if take else None
        if held is not None and (index is None or held < self._slots[index]):
            if not peek:  # its caller wakes, and queues again
                self._yielding.remove(held)
                self._movable.discard(held)
                self._taken.add(held)
                self._changed.notify_all()
            return held
        if index is None:
            return None
        slot = self._slots[index]
        if not peek:
            del self._slots[index]  # earlier ones stay for this process's other callers
        return slot

    def _claim_count(self, alone: bool) -> int:
        """Claim what this process is about to use: the callers waiting, or its use of the last
        second, whichever is more (at most a block). Slots nobody here would use stay in the
        shared schedule for other tasks.

        A claim is a write to the table, as costly to the task as a Cognito call. Claimed a
        quarter of a second of its use at a time, four tasks sharing a budget of 30 made a claim
        every 4.3 calls. When the run is bound by its budget, the schedule runs about a second
        ahead (each caller holds a slot), so callers come back from their calls before a block's
        slots are due; when it is not, a slot left unused was not needed."""
        if alone:
            return 1
        while self._granted and self._granted[0] < time.time() - 1.0:
            self._granted.popleft()
        return max(1, min(max(self._waiting, len(self._granted)), self.block))

    def _grant(self, slot: float, yielding: bool, movable: bool = False) -> float:
        self.calls += 1
        self._granted.append(slot)
        self._latest = max(self._latest, slot)
        if yielding:
            self._yielding.add(slot)
        if movable:
            self._movable.add(slot)
        return slot

    def wait(self, slot: float) -> float | None:
        """Sleep until `slot` (or the earlier slot the caller was moved to) and return the one held;
        None when it was taken meanwhile (at once: the caller may then use a slot given back
        earlier), or woken too late to use it (it is then dropped)."""
        held = self.hold(slot)
        if held is None:
            return None
        if time.time() > held + self.late:
            # Woken late (a busy machine): calling now could crowd the next slot's call.
            self.missed(held)
            return None
        return held

    def missed(self, slot: float) -> None:
        """A slot held for good whose call did not start in time (see `wait`, `pace`): dropped."""
        with self._lock:
            self.calls -= 1
            self.dropped += 1
            self.woken_late += 1
            self._forget(slot)

    def forfeit(self, slot: float) -> None:
        """A call whose slot was `slot` went out later than the slot allows (a thread stalled between
        its check and the socket): it may crowd a one-second window that its slot's call could not
        reach. Every such window also holds the schedule's next slot, if that comes at most a second
        (and the late window and jitter) after `slot`: that slot goes unused, so the window holds no
        more calls than the bound.

        The slot given up is the first one this process holds that no call has started in: free, or
        one a caller waits for (it queues again). When it holds none, one is claimed and dropped.
        """
        now = time.time()
        by = slot + 1.0 + self.late + ARRIVAL_JITTER_SECONDS
        with self._lock:
            self.late_sends += 1
            taken = self._take(now, by - now, 0.0, take=True) if by > now else None
            if taken is not None:
                self.dropped += 1
                return
        with self._claim_lock:
            self.schedule.claim(1, self.interval, time.time())
        with self._lock:
            self.dropped += 1

    def hold(self, slot: float, lead: float = 0.0) -> float | None:
        """Sleep until `lead` before the caller's slot, then make it the caller's own for good; return
        it: `slot`, or the earlier one it was moved to meanwhile. None when it was taken meanwhile."""
        with self._lock:
            while True:
                while slot in self._moved:
                    slot = self._moved.pop(slot)
                if slot in self._taken:
                    self._taken.remove(slot)
                    self.calls -= 1
                    self._forget(slot)
                    return None
                delay = slot - lead - time.time()
                if delay <= 0:
                    break
                self._changed.wait(delay)
            self._yielding.discard(slot)
            self._movable.discard(slot)
            return slot

    def give_back(self, slot: float) -> None:
        """Return a reserved slot unused: another caller of this process may still use it in time.

        The caller here that waits for the latest slot, if it needs no other slot, is moved to this
        one, and its slot goes to whoever asks next: a slot given back shortly before its time would
        otherwise often pass unused.
        """
        with self._lock:
            self.calls -= 1
            self._forget(slot)
            if slot + self.late <= time.time():
                self.dropped += 1
                return
            later = max(self._movable, default=None)
            if later is None or later <= slot:
                bisect.insort(self._slots, slot)
                return
            self._yielding.remove(later)
            self._movable.remove(later)
            self._yielding.add(slot)
            self._movable.add(slot)
            self._moved[later] = slot
            bisect.insort(self._slots, later)
            self._changed.notify_all()

    def _forget(self, slot: float) -> None:
        """A slot granted and not used by its caller no longer counts as this process's recent use."""
        try:
            self._granted.remove(slot)
        except ValueError:
            pass

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


def pace(client: BaseClient, acquire: Callable[[str], Held]) -> BaseClient:
    """Call `acquire(operation)` before every HTTP attempt `client` makes, retries included, and
    start the attempt only within its slots: when the request's first byte goes to the socket
    later than that, its slots are dropped and it waits for new ones.

    botocore's `before-send` is its last event before the HTTP send, but on an overloaded worker a
    thread can stall between that event and the socket: requests reached the emulator 40 to 130 ms
    after their slots' late window (measured), bunched with later ones, and one second held 22
    calls at a budget of 20. The check at the socket leaves only a few instructions between it and
    the request's first byte; a stall there (seen once: three calls sent together after 150 ms) is
    made up for afterwards, by a later slot left unused.
    """
    service = client.meta.service_model.service_name

    def before_send(event_name: str = "", **_kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]  # before-send.<service>.<Operation>
        held = acquire(operation)

        def on_time() -> Held:
            nonlocal held
            while time.time() > held.deadline:
                held.missed()
                held = acquire(operation)
            return held

        _starting.check = on_time
        return None  # a value here would stand in for the HTTP response

    def after_attempt(**_kwargs: Any) -> None:
        _starting.check = None  # the attempt ended without reaching the socket (a connection error)

    _check_at_socket()
    client.meta.events.register(f"before-send.{service}", before_send)
    client.meta.events.register(f"needs-retry.{service}", after_attempt)
    return client


# The check that the attempt this thread is about to send is still within its slots (see `pace`).
_starting = threading.local()
_send_first_byte = AWSConnection.send
_patch_lock = threading.Lock()


def _check_at_socket() -> None:
    """Make botocore's connections run a paced attempt's check just before its first byte.

    A paced attempt's `before-send` leaves its check in the thread; the connection's next `send` (the
    request line and headers) runs it and clears it. Other requests, paced or not, are untouched.
    """
    def send(connection: AWSConnection, data: Any) -> Any:
        check = getattr(_starting, "check", None)
        if check is None:
            return _send_first_byte(connection, data)
        _starting.check = None
        held = check()
        try:
            return _send_first_byte(connection, data)
        finally:
            # Even those few instructions can stall (a collection, a starved process): when the
            # bytes went out later than the slots allow, later slots make up for it.
            if time.time() > held.deadline + SENT_LATE_SECONDS:
                held.sent_late()

    with _patch_lock:
        if AWSConnection.send is _send_first_byte:
            AWSConnection.send = send  # type: ignore[method-assign]


def acquire_both(category: RateLimiter, overall: RateLimiter) -> Held:
    """Block until the caller holds a slot of its category's limiter and one of the overall
    limiter, both usable now; then it may start one call.

    The call starts within the late window of both slots, so neither schedule's bound moves. The
    caller first queues on the schedule that is further ahead (the busier one, as far as this
    process knows), as any caller of it would (in blocks, its place in the queue); shortly before
    that slot, it asks the other limiter for one slot at that time. When the other is busy then,
    the caller keeps the slot it got there, gives the first one back (another caller of this
    process may use it in time), and asks the first limiter for one at that time; and so on, each
    step later in time. Queued on the overall schedule, callers of one category hold its slots a
    category interval apart, leaving those between to other callers; asked for a slot at a given
    time, the overall limiter may hand over one another caller of this process reserved but does
    not yet hold for good: that caller queues again, and the slot is used either way.
    """
    def queue() -> tuple[RateLimiter, RateLimiter, float]:
        if category.next_free > overall.horizon:
            return category, overall, category.reserve(yielding=True)
        return overall, category, category.queue_after(overall)

    held, other, slot = queue()  # `held` holds `slot`; `other` must give one close to it
    while True:
        kept = held.hold(slot, other.lead)
        if kept is None:  # taken meanwhile by a caller that needed it then
            held, other, slot = queue()
            continue
        slot = kept
        match = other.reserve(slot, alone=True, within=held.late, take=other is overall)
        if match >= slot + held.late:  # `other` is busy then: keep its slot, and find one of `held` by it
            held.give_back(slot)
            held, other, slot = other, held, match
            continue
        # Within both slots' windows: a call never starts before a slot it holds.
        _sleep_until(max(slot, match))
        now = time.time()
        if now <= slot + held.late and now <= match + other.late:
            return Held(((held, slot), (other, match)))
        # Woken too late (a busy machine): both slots are dropped, and a new pair sought.
        held.give_back(slot)
        other.give_back(match)
        held, other, slot = queue()


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
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_before:
            gc.unfreeze()


__all__ = ["DynamoDBSchedule", "Held", "LocalSchedule", "RateLimiter", "acquire_both", "pace", "short_collections"]
