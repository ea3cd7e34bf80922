"""ListUsers / ListUsersInGroup: complete, stable, filtered and O(page) paging."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.bench_listing import list_all
from localaws.testing import Emulator

REGION = "us-east-1"
HEX = "0123456789abcdef"


def attrs(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user["Attributes"]}


def list_users(cognito: Any, pool_id: str, **params: Any) -> list[dict[str, Any]]:
    users, token = [], None
    while True:
        page = cognito.list_users(UserPoolId=pool_id, **params, **({"PaginationToken": token} if token else {}))
        users += page["Users"]
        token = page.get("PaginationToken")
        if not token:
            return users


@pytest.fixture
def pool(aws: Emulator) -> str:
    return aws.seed(REGION, users=1500, groups=5, seed=3)


def test_listing_returns_every_user_once_in_a_stable_order(cognito: Any, pool: str) -> None:
    first = [user["Username"] for user in list_users(cognito, pool, Limit=60)]
    second = [user["Username"] for user in list_users(cognito, pool, Limit=37)]
    assert len(first) == len(set(first)) == 1500
    assert first == second


def test_limit_must_be_between_1_and_60(cognito: Any, pool: str) -> None:
    for limit in (0, 61):
        with pytest.raises(ClientError) as error:
            cognito.list_users(UserPoolId=pool, Limit=limit)
        assert error.value.response["Error"]["Code"] == "InvalidParameterException"
    assert len(cognito.list_users(UserPoolId=pool, Limit=1)["Users"]) == 1
    assert len(cognito.list_users(UserPoolId=pool)["Users"]) == 60


def test_unknown_pool_is_resource_not_found(cognito: Any) -> None:
    with pytest.raises(ClientError) as error:
        cognito.list_users(UserPoolId="us-east-1_doesnotexist")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_attributes_to_get(cognito: Any, pool: str) -> None:
    users = cognito.list_users(UserPoolId=pool, AttributesToGet=["email", "sub"], Limit=20)["Users"]
    assert all(set(attrs(user)) <= {"email", "sub"} and "sub" in attrs(user) for user in users)
    assert all({"Username", "Enabled", "UserStatus", "UserCreateDate", "UserLastModifiedDate"} <= set(user) for user in users)


@pytest.mark.parametrize(
    ("name", "operator", "pick"),
    [
        ("email", "=", lambda user: attrs(user)["email"]),
        ("username", "=", lambda user: user["Username"]),
        ("username", "^=", lambda user: user["Username"][:6]),
        ("given_name", "=", lambda user: attrs(user)["given_name"]),
        ("family_name", "^=", lambda user: attrs(user)["family_name"][:2]),
        ("name", "^=", lambda user: attrs(user)["name"][:3]),
        ("phone_number", "^=", lambda user: "+1555"),
        ("sub", "=", lambda user: attrs(user)["sub"]),
        ("sub", "^=", lambda user: attrs(user)["sub"][:2]),
        ("cognito:user_status", "=", lambda user: "UNCONFIRMED"),
        ("status", "=", lambda user: "Disabled"),
    ],
)
def test_filters_match_what_the_attributes_say(cognito: Any, pool: str, name: str, operator: str, pick: Any) -> None:
    everyone = list_users(cognito, pool)
    value = pick(everyone[5])

    def actual(user: dict[str, Any]) -> str | None:
        if name == "username":
            return user["Username"]
        if name == "status":
            return "Enabled" if user["Enabled"] else "Disabled"
        if name == "cognito:user_status":
            return user["UserStatus"]
        return attrs(user).get(name)

    expected = sorted(
        user["Username"]
        for user in everyone
        if actual(user) is not None and (actual(user) == value if operator == "=" else actual(user).startswith(value))
    )
    found = list_users(cognito, pool, Filter=f'{name} {operator} "{value}"', Limit=25)
    assert expected, "the test needs at least one match"
    assert sorted(user["Username"] for user in found) == expected


def test_bad_filters_are_invalid_parameters(cognito: Any, pool: str) -> None:
    for bad in ('custom:department = "HR"', "email = unquoted", 'email ~= "x"'):
        with pytest.raises(ClientError) as error:
            cognito.list_users(UserPoolId=pool, Filter=bad)
        assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_sixteen_sub_shards_partition_the_pool(cognito: Any, pool: str) -> None:
    everyone = sorted(user["Username"] for user in list_users(cognito, pool))
    shards = [list_all(cognito, pool, f'sub ^= "{digit}"') for digit in HEX]
    assert sorted(name for shard in shards for name in shard) == everyone
    assert all(shards)


def test_a_token_from_another_listing_is_refused(cognito: Any, pool: str) -> None:
    token = cognito.list_users(UserPoolId=pool, Limit=5)["PaginationToken"]
    with pytest.raises(ClientError) as error:
        cognito.list_users(UserPoolId=pool, Filter='sub ^= "a"', PaginationToken=token)
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_paging_survives_creates_and_deletes(cognito: Any, pool: str) -> None:
    page = cognito.list_users(UserPoolId=pool, Limit=60)
    last = page["Users"][-1]["Username"]
    cognito.admin_delete_user(UserPoolId=pool, Username=last)
    cognito.admin_create_user(UserPoolId=pool, Username="zzzz-new-user", MessageAction="SUPPRESS")
    rest: list[dict[str, Any]] = []
    token = page["PaginationToken"]
    while token:
        next_page = cognito.list_users(UserPoolId=pool, Limit=60, PaginationToken=token)
        rest += next_page["Users"]
        token = next_page.get("PaginationToken")
    names = [user["Username"] for user in page["Users"] + rest]
    # The deleted user came on the first page; the new one comes later, exactly once.
    assert len(names) == len(set(names)) == 1501
    assert last in names and "zzzz-new-user" in names


def test_list_users_in_group_pages_through_members(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=400, groups=5, one_group_each=True)
    group = cognito.list_groups(UserPoolId=pool_id)["Groups"][0]["GroupName"]
    first = cognito.list_users_in_group(UserPoolId=pool_id, GroupName=group, Limit=60)
    second = cognito.list_users_in_group(UserPoolId=pool_id, GroupName=group, Limit=60, NextToken=first["NextToken"])
    assert "NextToken" not in second
    names = [user["Username"] for user in first["Users"] + second["Users"]]
    assert len(names) == len(set(names)) == 80
    cognito.admin_remove_user_from_group(UserPoolId=pool_id, GroupName=group, Username=names[0])
    pages = cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=group)
    assert sorted(user["Username"] for page in pages for user in page["Users"]) == sorted(names[1:])
    with pytest.raises(ClientError) as error:
        cognito.list_users_in_group(UserPoolId=pool_id, GroupName="no-such-group")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_page_cost_does_not_grow_with_the_pool(aws: Emulator, cognito: Any) -> None:
    """Server-side time per page (from the request log) in a 20,000-user pool stays
    close to that in a 300-user pool, for plain and sub-sharded listing alike."""
    small = aws.seed(REGION, users=300, groups=0)
    large = aws.seed(REGION, users=20_000, groups=0)

    def median_page_seconds(pool_id: str, **params: Any) -> float:
        mark = aws.mark()
        token = None
        for _ in range(4):  # pages deep into the listing, not just the first one
            page = cognito.list_users(UserPoolId=pool_id, Limit=60, **params, **({"PaginationToken": token} if token else {}))
            token = page.get("PaginationToken")
        return statistics.median(record["duration"] for record in aws.requests(since=mark))

    for params in ({}, {"Filter": 'sub ^= "7"'}):
        small_cost = min(median_page_seconds(small, **params) for _ in range(3))
        large_cost = min(median_page_seconds(large, **params) for _ in range(3))
        assert large_cost < 3 * small_cost + 0.002, (params, small_cost, large_cost)

    began = time.perf_counter()
    assert len(list_all(cognito, large)) == 20_000
    assert time.perf_counter() - began < 10  # i.e. 100,000 users in well under a minute
