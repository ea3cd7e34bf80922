"""Access to moto's in-process backends, and the lock that serialises changes to them.

moto's models are not thread-safe, and the server is threaded. Every piece of code that
reads or changes backend state (moto's own request handlers, our extensions, the import
worker, the seeder) does it while holding STATE_LOCK. Waiting (latency, pacing) happens
outside the lock so that concurrent clients still overlap.
"""

from __future__ import annotations

import os
import threading

from moto.cognitoidp.models import CognitoIdpBackend, cognitoidp_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.moto_api._internal.models import moto_api_backend

STATE_LOCK = threading.RLock()


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
