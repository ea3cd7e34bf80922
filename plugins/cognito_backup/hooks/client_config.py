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
