"""Cognito user pool rate quotas: which category each operation counts against, and the
token buckets that enforce them.

AWS applies these per account and Region, shared by every pool (and by the live
application). Change the tables below when AWS changes its quotas.
"""

from __future__ import annotations

import threading
import time

# Requests per second per category (AWS defaults). A bucket holds at most one second's worth.
RATES: dict[str, float] = {
    "UserList": 30,
    "UserPoolRead": 15,
    "UserPoolResourceRead": 20,
    "UserPoolResourceUpdate": 15,
    "UserResourceUpdate": 25,
    "UserRead": 120,
    "UserCreation": 50,
    "UserPoolCreate": 5,
    "Other": 50,
}

CATEGORY_BY_OPERATION: dict[str, str] = {
    "ListUsers": "UserList",
    "ListUsersInGroup": "UserList",
    "DescribeUserPool": "UserPoolRead",
    "ListGroups": "UserPoolResourceRead",
    "GetGroup": "UserPoolResourceRead",
    "GetCSVHeader": "UserPoolResourceRead",
    "DescribeUserImportJob": "UserPoolResourceRead",
    "ListUserImportJobs": "UserPoolResourceRead",
    "CreateGroup": "UserPoolResourceUpdate",
    "UpdateGroup": "UserPoolResourceUpdate",
    "DeleteGroup": "UserPoolResourceUpdate",
    "CreateUserImportJob": "UserPoolResourceUpdate",
    "StartUserImportJob": "UserPoolResourceUpdate",
    "StopUserImportJob": "UserPoolResourceUpdate",
    "AdminAddUserToGroup": "UserResourceUpdate",
    "AdminRemoveUserFromGroup": "UserResourceUpdate",
    "AdminDisableUser": "UserResourceUpdate",
    "AdminEnableUser": "UserResourceUpdate",
    "AdminSetUserPassword": "UserResourceUpdate",
    "AdminResetUserPassword": "UserResourceUpdate",
    "AdminUpdateUserAttributes": "UserResourceUpdate",
    "AdminDeleteUser": "UserResourceUpdate",
    "AdminGetUser": "UserRead",
    "AdminListGroupsForUser": "UserRead",
    "AdminCreateUser": "UserCreation",
    "CreateUserPool": "UserPoolCreate",
    "DeleteUserPool": "UserPoolCreate",
    "UpdateUserPool": "UserPoolCreate",
}

QUOTA_SERVICE = "cognito-idp"


def category(service: str, operation: str) -> str | None:
    """The quota category of a call, or None for services without these quotas."""
    if service != QUOTA_SERVICE:
        return None
    return CATEGORY_BY_OPERATION.get(operation, "Other")


class _Bucket:
    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class QuotaBuckets:
    """One token bucket per (account, Region, category), created full on first use."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, account: str, region: str, category_name: str) -> bool:
        with self._lock:
            key = (account, region, category_name)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(RATES[category_name])
            return bucket.take()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
