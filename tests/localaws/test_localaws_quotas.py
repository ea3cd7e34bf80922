"""Cognito rate quotas: token buckets per account, Region and category."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws import quotas
from localaws.testing import Emulator

REGION = "us-east-1"
NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}


def throttled(call: Any) -> bool:
    try:
        call()
    except ClientError as error:
        assert error.response["Error"]["Code"] == "TooManyRequestsException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return True
    return False


@pytest.fixture
def limited(aws: Emulator) -> tuple[Emulator, str]:
    pool_id = aws.seed(REGION, users=30, groups=1)
    aws.set_config(quotas="aws")
    return aws, pool_id


def test_categories_table() -> None:
    assert quotas.category("cognito-idp", "ListUsersInGroup") == "UserList"
    assert quotas.category("cognito-idp", "DescribeUserImportJob") == "UserPoolResourceRead"
    assert quotas.category("cognito-idp", "AdminAddUserToGroup") == "UserResourceUpdate"
    assert quotas.category("cognito-idp", "InitiateAuth") == "Other"
    assert quotas.category("dynamodb", "Query") is None
    assert quotas.RATES["UserList"] == 30


def test_a_burst_of_list_users_is_throttled(limited: tuple[Emulator, str]) -> None:
    aws, pool_id = limited
    clients = [aws.client("cognito-idp", REGION, retries=NO_RETRIES) for _ in range(6)]
    for client in clients:  # warm up (connection, models) on another category's bucket
        client.describe_user_pool(UserPoolId=pool_id)
    results: list[bool] = []

    def burst(client: Any) -> None:
        for _ in range(15):
            results.append(throttled(lambda: client.list_users(UserPoolId=pool_id, Limit=1)))

    threads = [threading.Thread(target=burst, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 90
    assert results.count(True) >= 20  # 90 calls in well under a second against 30 per second
    assert results.count(False) >= 30  # the bucket starts full

    outcomes = [record["outcome"] for record in aws.requests() if record["operation"] == "ListUsers"]
    assert outcomes.count("throttled") == results.count(True)


def test_a_steady_25_per_second_is_never_throttled(limited: tuple[Emulator, str]) -> None:
    aws, pool_id = limited
    client = aws.client("cognito-idp", REGION, retries=NO_RETRIES)
    began = time.monotonic()
    failures = 0
    for index in range(75):  # 3 seconds at 25 per second
        time.sleep(max(0.0, began + index / 25 - time.monotonic()))
        failures += throttled(lambda: client.list_users(UserPoolId=pool_id, Limit=1))
    assert failures == 0


def test_throttling_error_has_awss_shape(limited: tuple[Emulator, str]) -> None:
    """Raw HTTP: header x-amzn-ErrorType and the JSON body botocore parses."""
    aws, pool_id = limited
    replies = []
    for _ in range(25):  # DescribeUserPool: 15 per second
        request = urllib.request.Request(
            aws.endpoint,
            data=json.dumps({"UserPoolId": pool_id}).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSCognitoIdentityProviderService.DescribeUserPool",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(request) as response:
                replies.append((response.status, None, None))
        except urllib.error.HTTPError as error:
            replies.append((error.code, error.headers["x-amzn-ErrorType"], json.loads(error.read())))
    refused = [reply for reply in replies if reply[0] != 200]
    assert refused
    assert all(reply == (400, "TooManyRequestsException", {"__type": "TooManyRequestsException", "message": "Too many requests"}) for reply in refused)


def test_buckets_are_per_region_and_shared_by_pools(limited: tuple[Emulator, str]) -> None:
    aws, pool_id = limited
    other_pool = aws.client("cognito-idp", REGION).create_user_pool(PoolName="second")["UserPool"]["Id"]
    east = aws.client("cognito-idp", REGION, retries=NO_RETRIES)
    results = [throttled(lambda pool=pool: east.describe_user_pool(UserPoolId=pool)) for pool in [pool_id, other_pool] * 12]
    assert results[:15] == [False] * 15 and any(results[15:])  # 15 per second across both pools
    west = aws.client("cognito-idp", "eu-west-1", retries=NO_RETRIES)
    assert not throttled(lambda: west.list_user_pools(MaxResults=1))


def test_botocore_standard_mode_retries_throttling_legacy_does_not(aws: Emulator) -> None:
    pool_id = aws.seed(REGION, users=3, groups=0)
    aws.set_faults([{"operation": "ListUsers", "kind": "throttle", "count": 2}])
    standard = aws.client("cognito-idp", REGION, retries={"mode": "standard", "max_attempts": 5})
    mark = aws.mark()
    assert len(standard.list_users(UserPoolId=pool_id)["Users"]) == 3
    assert [record["outcome"] for record in aws.requests(since=mark)] == ["fault", "fault", "ok"]

    aws.set_faults([{"operation": "ListUsers", "kind": "throttle", "count": 1}])
    legacy = aws.client("cognito-idp", REGION, retries={"mode": "legacy", "max_attempts": 5})
    mark = aws.mark()
    assert throttled(lambda: legacy.list_users(UserPoolId=pool_id))
    assert [record["outcome"] for record in aws.requests(since=mark)] == ["fault"]


def test_quotas_off_never_throttle(aws: Emulator) -> None:
    pool_id = aws.seed(REGION, users=3, groups=0)
    client = aws.client("cognito-idp", REGION, retries=NO_RETRIES)
    assert not any(throttled(lambda: client.describe_user_pool(UserPoolId=pool_id)) for _ in range(40))
