"""botocore client settings the hooks default to, under what a connection or caller sets."""

from __future__ import annotations

from botocore.config import Config


def merged(defaults: Config, config: Config) -> Config:
    """`defaults` overridden by `config`, key by key within `retries` too.

    botocore replaces `retries` whole, so a connection setting only `{"max_attempts": 3}` would
    drop the `standard` mode and fall back to `legacy`, which does not retry Cognito's
    `TooManyRequestsException`.
    """
    retries = {**(defaults.retries or {}), **(config.retries or {})}
    return defaults.merge(config).merge(Config(retries=retries))
