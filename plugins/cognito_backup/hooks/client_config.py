"""What both hooks add to the provider's client set-up: retry defaults, and a named caller."""

from __future__ import annotations

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
    client: every frame's source lines read, every loaded module mapped to its file, then a
    second walk when the client is made in a worker thread (no `execute` frame there). That
    cost about 0.2 CPU-seconds per task process, a tenth of a short task's CPU.

    :param caller: the operator's class name; ``None`` lets the provider find it.
    """

    def __init__(self, *args: Any, caller: str | None = None, **kwargs: Any) -> None:
        self.caller = caller
        super().__init__(*args, **kwargs)

    def _get_caller(self, target_function_name: str = "execute") -> str:
        return self.caller or super()._get_caller(target_function_name)  # type: ignore[misc]
