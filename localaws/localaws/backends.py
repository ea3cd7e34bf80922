"""Access to moto's in-process backends, and the lock that serialises changes to them.

moto's models are not thread-safe, and the server is threaded. Every piece of code that
reads or changes backend state (moto's own request handlers, our extensions, the import
worker, the seeder) does it while holding STATE_LOCK. Waiting (latency, pacing) happens
outside the lock so that concurrent clients still overlap.

AWS answers a small call in milliseconds whatever else its other clients ask. Here every call
takes its turn at the one lock, so a call that touches one item or one Cognito entity
(`urgent`) goes before the waiting queries, scans and batches, each of which may hold the lock
for tens of milliseconds: otherwise a burst of index queries would hold back a client's
Cognito calls and the single-item writes its rate limiter paces them with, for seconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from moto.cognitoidp.models import CognitoIdpBackend, cognitoidp_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.moto_api._internal.models import moto_api_backend

class StateLock:
    """A reentrant lock; a thread that takes it with `urgent()` goes before ordinary waiters."""

    def __init__(self) -> None:
        mutex = threading.Lock()
        self._urgent_turn = threading.Condition(mutex)
        self._ordinary_turn = threading.Condition(mutex)
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    def acquire(self, urgent: bool = False) -> bool:
        me = threading.get_ident()
        with self._urgent_turn:  # the shared mutex
            if self._owner == me:
                self._depth += 1
                return True
            if urgent:
                self._urgent_waiting += 1
                try:
                    while self._owner is not None:
                        self._urgent_turn.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                while self._owner is not None or self._urgent_waiting:
                    self._ordinary_turn.wait()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._urgent_turn:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a StateLock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            # One waiter a release: every release wakes the next in line, so none is lost.
            (self._urgent_turn if self._urgent_waiting else self._ordinary_turn).notify()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        self.acquire(urgent=True)
        try:
            yield
        finally:
            self.release()


STATE_LOCK = StateLock()


def default_account() -> str:
    """The account moto uses when a request names none (MOTO_ACCOUNT_ID wins, as in moto)."""
    return os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)


def account_for(access_key: str | None, account_header: str | None) -> str:
    """Resolve the account of a request exactly as moto's BaseResponse does."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if account_header:
        return account_header
    if access_key:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)
    return DEFAULT_ACCOUNT_ID


def cognito(account: str, region: str) -> CognitoIdpBackend:
    return cognitoidp_backends[account][region]


def dynamodb(account: str, region: str) -> DynamoDBBackend:
    return dynamodb_backends[account][region]


def reset_moto() -> None:
    """Drop every resource of every service, as moto's /moto-api/reset does."""
    with STATE_LOCK:
        moto_api_backend.reset()
