"""Amazon Cognito user pools hook."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.utils import parse_timestamp

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from cognito_backup.hooks.client_config import NamedCaller, SharedModels, merged
from cognito_backup.hooks.plain_json import keep_raw

if TYPE_CHECKING:
    from cognito_backup.budget import CallBudget
    from cognito_backup.rate_limit import RateLimiter

# Cognito answers throttling with TooManyRequestsException (HTTP 400), which botocore's
# `legacy` retry mode does not retry; `standard` does, with exponential backoff.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=32)
PAGE_SIZE = 60  # the largest page ListUsers, ListUsersInGroup and ListGroups return
# Answers used as plain JSON: their users' timestamps stay epoch seconds.
RAW_SHAPES = frozenset({"ListUsersResponse", "ListUsersInGroupResponse"})


def utc_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, quicker for the epoch seconds Cognito returns."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return parse_timestamp(value)


class CognitoHook(NamedCaller, SharedModels, AwsBaseHook):
    """
    Interact with Amazon Cognito user pools.

    Thin wrapper around :external+boto3:py:class:`boto3.client("cognito-idp") <CognitoIdentityProvider.Client>`.
    With a ``rate_limiter``, every HTTP attempt of the client (retries included) waits for a
    slot of the run's call budget (of the call's quota category, with a budget per category).

    :param rate_limiter: paces the client's calls; ``None`` for unpaced calls.
    :param caller: the operator's class name, for the user agent.
    """

    def __init__(self, *args, rate_limiter: RateLimiter | CallBudget | None = None, **kwargs) -> None:
        kwargs["client_type"] = "cognito-idp"
        self.rate_limiter = rate_limiter
        self.throttled = 0  # attempts Cognito answered with TooManyRequestsException (retried or not)
        self._throttled_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _get_config(self, config: Config | None = None) -> Config:
        # Our retry defaults, overridden by the connection's `config_kwargs` or the caller's.
        return merged(RETRY_CONFIG, super()._get_config(config))

    def get_session(self, region_name: str | None = None, deferrable: bool = False):
        session = super().get_session(region_name=region_name, deferrable=deferrable)
        if not deferrable:
            # Pages of users arrive by the thousand: kept as JSON (hooks/plain_json.py). Elsewhere,
            # timestamps as UTC datetimes: botocore makes each a datetime in the local zone
            # through dateutil, 12% of an unchanged export's task CPU (profiled); UTC is the same
            # instant for a fraction of it.
            keep_raw(session, RAW_SHAPES, timestamp_parser=utc_timestamp)
        return session

    @cached_property
    def conn(self):
        client = super().conn
        # Load the paginator definitions now, on the thread making the client: worker threads
        # that page at once would each load them (a scan of botocore's data folders) until one
        # has cached them on the client.
        client.can_paginate("list_users")
        if self.rate_limiter is not None:
            self.rate_limiter.attach(client)
        # Every attempt's response passes here before botocore decides on a retry.
        client.meta.events.register("needs-retry.cognito-identity-provider", self._count_throttled)
        return client

    def _count_throttled(self, response=None, **_kwargs) -> None:
        if response and response[1].get("Error", {}).get("Code") == "TooManyRequestsException":
            with self._throttled_lock:
                self.throttled += 1

    @cached_property
    def waiter_path(self) -> Path:
        return Path(__file__).parents[1] / "waiters" / "cognito-idp.json"

    # Pool

    def describe_user_pool(self, user_pool_id: str) -> dict[str, Any]:
        return self.conn.describe_user_pool(UserPoolId=user_pool_id)["UserPool"]

    def create_user_pool(self, **kwargs: Any) -> dict[str, Any]:
        return self.conn.create_user_pool(**kwargs)["UserPool"]

    def get_csv_header(self, user_pool_id: str) -> list[str]:
        return self.conn.get_csv_header(UserPoolId=user_pool_id)["CSVHeader"]

    # Listing

    def list_users(
        self, user_pool_id: str, filter_expression: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of users, optionally matching a ListUsers filter (e.g. ``sub ^= "a"``)."""
        kwargs: dict[str, Any] = {"UserPoolId": user_pool_id, "PaginationConfig": {"PageSize": page_size}}
        if filter_expression:
            kwargs["Filter"] = filter_expression
        for page in self.conn.get_paginator("list_users").paginate(**kwargs):
            yield page.get("Users", [])

    def list_groups(self, user_pool_id: str) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of groups."""
        paginator = self.conn.get_paginator("list_groups")
        for page in paginator.paginate(UserPoolId=user_pool_id, PaginationConfig={"PageSize": PAGE_SIZE}):
            yield page.get("Groups", [])

    def list_users_in_group(self, user_pool_id: str, group_name: str) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of a group's members."""
        paginator = self.conn.get_paginator("list_users_in_group")
        for page in paginator.paginate(
            UserPoolId=user_pool_id, GroupName=group_name, PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            yield page.get("Users", [])

    # Writes used by the import

    def create_group(self, user_pool_id: str, **kwargs: Any) -> None:
        self.conn.create_group(UserPoolId=user_pool_id, **kwargs)

    def admin_create_user(self, user_pool_id: str, username: str, attributes: list[dict[str, str]]) -> dict:
        return self.conn.admin_create_user(
            UserPoolId=user_pool_id, Username=username, UserAttributes=attributes, MessageAction="SUPPRESS"
        )["User"]

    def admin_set_user_password(self, user_pool_id: str, username: str, password: str) -> None:
        self.conn.admin_set_user_password(
            UserPoolId=user_pool_id, Username=username, Password=password, Permanent=True
        )

    def admin_reset_user_password(self, user_pool_id: str, username: str) -> None:
        self.conn.admin_reset_user_password(UserPoolId=user_pool_id, Username=username)

    def admin_add_user_to_group(self, user_pool_id: str, username: str, group_name: str) -> None:
        self.conn.admin_add_user_to_group(UserPoolId=user_pool_id, Username=username, GroupName=group_name)

    def admin_disable_user(self, user_pool_id: str, username: str) -> None:
        self.conn.admin_disable_user(UserPoolId=user_pool_id, Username=username)

    # User import jobs

    def create_user_import_job(self, user_pool_id: str, job_name: str, cloudwatch_logs_role_arn: str) -> dict:
        return self.conn.create_user_import_job(
            UserPoolId=user_pool_id, JobName=job_name, CloudWatchLogsRoleArn=cloudwatch_logs_role_arn
        )["UserImportJob"]

    def start_user_import_job(self, user_pool_id: str, job_id: str) -> dict:
        return self.conn.start_user_import_job(UserPoolId=user_pool_id, JobId=job_id)["UserImportJob"]

    def describe_user_import_job(self, user_pool_id: str, job_id: str) -> dict:
        return self.conn.describe_user_import_job(UserPoolId=user_pool_id, JobId=job_id)["UserImportJob"]

    def list_user_import_jobs(self, user_pool_id: str) -> Iterator[dict]:
        kwargs: dict[str, Any] = {"UserPoolId": user_pool_id, "MaxResults": 60}
        while True:
            page = self.conn.list_user_import_jobs(**kwargs)
            yield from page.get("UserImportJobs", [])
            if not page.get("PaginationToken"):
                return
            kwargs["PaginationToken"] = page["PaginationToken"]

    # Used by the import (appended; the methods above keep their behaviour)

    def list_user_pools(self) -> Iterator[dict[str, Any]]:
        """Every user pool of the account in this Region (id and name)."""
        for page in self.conn.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            yield from page.get("UserPools", [])

    def get_group(self, user_pool_id: str, group_name: str) -> dict[str, Any]:
        return self.conn.get_group(UserPoolId=user_pool_id, GroupName=group_name)["Group"]

    def update_group(self, user_pool_id: str, **kwargs: Any) -> None:
        self.conn.update_group(UserPoolId=user_pool_id, **kwargs)

    def admin_get_user(self, user_pool_id: str, username: str) -> dict[str, Any]:
        return self.conn.admin_get_user(UserPoolId=user_pool_id, Username=username)

    def first_users(self, user_pool_id: str, limit: int = 1) -> list[dict[str, Any]]:
        """At most `limit` users (one call): is the pool empty?"""
        return self.conn.list_users(UserPoolId=user_pool_id, Limit=limit).get("Users", [])
