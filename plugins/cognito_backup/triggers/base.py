"""Long waits on AWS that hold no worker slot, whatever the triggerer has installed.

The provider's waiter triggers poll with its async AWS client (aiobotocore), which pins a
botocore older than the one this project ships with, so every setup here lacks it. Without
it, a deferred task would have to poll in its task process, holding a worker slot for an hour
or more (a large user import job, a restored table). This trigger polls the same waiter with
the synchronous client instead: each poll runs in a thread for the length of one request, and
between polls the trigger sleeps on the triggerer's event loop, 1 second at first, doubling up
to the waiter's delay.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator
from typing import Any

import jmespath
from botocore.exceptions import WaiterError
from botocore.waiter import Waiter, WaiterModel, create_waiter_with_client

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import TriggerEvent

# Answers that mean "ask again later", not "the wait failed" (as the provider's own waiter loop).
RETRIABLE_ERRORS = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "LimitExceededException", "InternalServerError",
    "InternalFailure", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
})


def async_client_installed() -> bool:
    return importlib.util.find_spec("aiobotocore") is not None


def project_waiter(hook: Any, name: str) -> Waiter:
    """One of the hook's waiters (`waiters/<service>.json`) on its synchronous client."""
    with open(hook.waiter_path) as config:
        model = WaiterModel(json.load(config))
    return create_waiter_with_client(name, model, hook.conn)


class ThreadedWaiterTrigger(AwsBaseWaiterTrigger):
    """An AWS waiter trigger that waits with the async client when installed, else with the
    synchronous one, one poll at a time in a thread. Events are the provider's: ``status``
    ``success`` or ``error`` (with ``message``), and ``return_key``: ``return_value``."""

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if async_client_installed():
            async for event in super().run():
                yield event
            return
        yield await self._poll_in_threads()

    def hook(self) -> Any:
        """The hook of the waiter's service: each trigger builds its own."""
        raise NotImplementedError

    async def _poll_in_threads(self) -> TriggerEvent:
        waiter = await asyncio.to_thread(lambda: project_waiter(self.hook(), self.waiter_name))
        for attempt in range(self.attempts):
            if attempt:
                # 1, 2, 4... seconds up to the waiter's delay: a short wait ends soon after it
                # could, a long one polls at the waiter's pace.
                await asyncio.sleep(min(self.waiter_delay, 2 ** (attempt - 1)))
            try:
                await asyncio.to_thread(waiter.wait, **self.waiter_args, WaiterConfig={"MaxAttempts": 1})
            except WaiterError as error:
                response = error.last_response or {}
                code = (response.get("Error") or {}).get("Code")
                if "terminal failure" in str(error) or (code and code not in RETRIABLE_ERRORS):
                    return self._error(f"{self.failure_message}: {self._status(response) or code}")
                self.log.info("%s: %s", self.status_message, self._status(response) or code)
                continue
            return TriggerEvent({"status": "success", self.return_key: self.return_value})
        return self._error(f"{self.failure_message}: still waiting after {self.attempts} polls")

    def _status(self, response: dict[str, Any]) -> str:
        values = [jmespath.search(query, response) for query in self.status_queries]
        return " - ".join(str(v) for v in values if v is not None)

    def _error(self, message: str) -> TriggerEvent:
        return TriggerEvent({"status": "error", "message": message, self.return_key: self.return_value})
