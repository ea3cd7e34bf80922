"""What the hooks add to the provider's client set-up: retry defaults, a named caller, and one
set of botocore's data files for every session of a process."""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config


def merged(defaults: Config, config: Config) -> Config:
    """`defaults` overridden by `config`, key by key within `retries` too.

    botocore replaces `retries` whole, so a connection setting only `{"max_attempts": 3}` would
    drop the `standard` mode and fall back to `legacy`, which does not retry Cognito's
    `TooManyRequestsException`.
    """
    retries = {**(defaults.retries or {}), **(config.retries or {})}
    return defaults.merge(config).merge(Config(retries=retries))


class NamedCaller:
    """A hook told which operator uses it, for the `Caller/...` part of the provider's user agent.

    Left to itself the provider finds the caller with `inspect.stack()` each time it makes a
    client, reading the source lines of every frame; the first such walk in a task process
    (source files not yet cached, 1,700 modules to map to their files) costs about 0.06
    CPU-seconds, spent by each of an export's 23 task processes.

    :param caller: the operator's class name; ``None`` lets the provider find it.
    """

    def __init__(self, *args: Any, caller: str | None = None, **kwargs: Any) -> None:
        self.caller = caller
        super().__init__(*args, **kwargs)

    def _get_caller(self, target_function_name: str = "execute") -> str:
        return self.caller or super()._get_caller(target_function_name)  # type: ignore[misc]


class SharedModels:
    """A hook whose boto3 sessions share one botocore loader in the process.

    The provider makes a new boto3 session for each client, and each session reads botocore's
    data files again (the endpoints, the service's model, paginators and rule sets) through a
    loader of its own: 0.06 to 0.3 CPU-seconds a client in a task process, about a fifth of an
    export task's CPU outside its listing (profiled). Sessions whose loader would search the
    same folders use the first one's, and with it what it has read.
    """

    def get_session(self, region_name: str | None = None, deferrable: bool = False):
        session = super().get_session(region_name=region_name, deferrable=deferrable)  # type: ignore[misc]
        if not deferrable:
            share_loader(session._session)
        return session


_shared_loader: Any = None
_shared_loader_lock = threading.Lock()


def share_loader(botocore_session: Any) -> None:
    """Give `botocore_session` the process's loader when it would search the same folders."""
    global _shared_loader
    own = botocore_session.get_component("data_loader")
    with _shared_loader_lock:
        if _shared_loader is None:
            _shared_loader = own
        elif _shared_loader is not own and _shared_loader.search_paths == own.search_paths:
            botocore_session.register_component("data_loader", _shared_loader)
