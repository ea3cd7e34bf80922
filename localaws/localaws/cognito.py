"""Helpers shared by the Cognito extensions: AWS-shaped errors, parameter checks, pool
lookup and direct insertion of users into moto's backend."""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Callable
from typing import Any

from moto.cognitoidp.models import CognitoIdpUser, CognitoIdpUserPool
from moto.core.utils import utcnow

from localaws import backends
from localaws.protocol import AwsCall

# A Cognito operation we answer ourselves: it gets the call and returns the JSON reply.
Handler = Callable[[AwsCall], dict[str, Any]]

MAX_PAGE = 60


class CognitoError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid(message: str) -> CognitoError:
    return CognitoError("InvalidParameterException", message)


def not_found(message: str) -> CognitoError:
    return CognitoError("ResourceNotFoundException", message)


def required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise invalid(f"1 validation error detected: Value at '{name[0].lower() + name[1:]}' failed to satisfy constraint: Member must not be null")
    return value


def page_limit(params: dict[str, Any], name: str) -> int:
    """A page size parameter: AWS allows 1..60 and defaults to 60."""
    value = params.get(name)
    if value is None:
        return MAX_PAGE
    field = name[0].lower() + name[1:]
    if not isinstance(value, int) or value < 1:
        raise invalid(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 1")
    if value > MAX_PAGE:
        raise invalid(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {MAX_PAGE}")
    return value


def user_pool(account: str, region: str, pool_id: str) -> CognitoIdpUserPool:
    pool = backends.cognito(account, region).user_pools.get(pool_id)
    if pool is None:
        raise not_found(f"User pool {pool_id} does not exist.")
    return pool


def status_name(user: CognitoIdpUser) -> str:
    """moto keeps statuses as a str-Enum (or a plain str for ones it does not know)."""
    return getattr(user.status, "value", user.status)


def epoch(moment: datetime.datetime) -> float:
    """moto's naive-UTC datetimes as the epoch seconds Cognito's JSON protocol uses."""
    return calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6


def build_user(
    pool: CognitoIdpUserPool,
    username: str,
    attributes: list[dict[str, str]],
    status: Any,
    *,
    sub: str,
    enabled: bool = True,
    created: datetime.datetime | None = None,
    modified: datetime.datetime | None = None,
) -> CognitoIdpUser:
    """A user of ``pool`` made without an API call (not yet added to the pool).

    ``sub`` comes first among the attributes, as AWS lists them.
    """
    user = CognitoIdpUser(pool.id, username, None, status, [{"Name": "sub", "Value": sub}, *attributes])
    user.id = sub
    user.update_attributes([{"Name": "sub", "Value": sub}])
    user.enabled = enabled
    user.create_date = created or utcnow()
    user.last_modified_date = modified or user.create_date
    return user


def insert_user(pool: CognitoIdpUserPool, username: str, attributes: list[dict[str, str]], status: Any, *, sub: str) -> CognitoIdpUser:
    user = build_user(pool, username, attributes, status, sub=sub)
    pool.users[user.username] = user
    return user
