"""Seeded pools: fast, reproducible, and full of the cases that break naive tools."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from localaws.testing import Emulator

REGION = "us-east-1"


def all_users(cognito: Any, pool_id: str) -> list[dict[str, Any]]:
    users, token = [], None
    while True:
        page = cognito.list_users(UserPoolId=pool_id, **({"PaginationToken": token} if token else {}))
        users += page["Users"]
        token = page.get("PaginationToken")
        if not token:
            return users


def all_groups(cognito: Any, pool_id: str) -> list[dict[str, Any]]:
    return [group for page in cognito.get_paginator("list_groups").paginate(UserPoolId=pool_id) for group in page["Groups"]]


def members(cognito: Any, pool_id: str, group: str) -> list[str]:
    pages = cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=group)
    return [user["Username"] for page in pages for user in page["Users"]]


def attrs(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user.get("Attributes", user.get("UserAttributes", []))}


def test_seeded_pool_has_every_edge_case(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=300, groups=12, seed=7)
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == "OFF"
    assert "UsernameAttributes" not in pool
    schema = {attribute["Name"]: attribute["AttributeDataType"] for attribute in pool["SchemaAttributes"]}
    assert schema["custom:department"] == "String"
    assert schema["custom:employee_id"] == "Number"
    assert "custom:nickname_note" in schema

    users = all_users(cognito, pool_id)
    assert len(users) == 300
    subs = [attrs(user)["sub"] for user in users]
    assert len(set(subs)) == 300
    assert all(uuid.UUID(sub).version == 4 for sub in subs)
    assert {user["UserStatus"] for user in users} >= {"CONFIRMED", "UNCONFIRMED", "FORCE_CHANGE_PASSWORD", "RESET_REQUIRED"}
    assert any(not user["Enabled"] for user in users)
    assert any(attrs(user)["email_verified"] == "false" for user in users)
    assert any(attrs(user).get("phone_number_verified") == "true" for user in users)
    for name in ("given_name", "family_name", "name", "email", "phone_number"):
        assert any(name in attrs(user) for user in users), name
    values = [value for user in users for value in attrs(user).values()]
    assert "Zoë" in values and "Müller, Jr." in values
    assert any("山田" in value for value in values)
    assert any('"' in value for value in values)
    assert any("\\" in value for value in values)
    assert any("," in attrs(user).get("custom:nickname_note", "") for user in users)
    assert any(not user["Username"].isascii() for user in users)
    assert all(user["UserCreateDate"] <= user["UserLastModifiedDate"] for user in users)

    groups = all_groups(cognito, pool_id)
    assert len(groups) == 12
    assert any(group.get("Description") for group in groups) and any(not group.get("Description") for group in groups)
    assert any("Precedence" in group for group in groups) and any("Precedence" not in group for group in groups)
    assert any(group.get("RoleArn") for group in groups) and any(not group.get("RoleArn") for group in groups)
    membership: dict[str, int] = {}
    sizes = []
    for group in groups:
        names = members(cognito, pool_id, group["GroupName"])
        sizes.append(len(names))
        for name in names:
            membership[name] = membership.get(name, 0) + 1
    assert 0 in sizes  # empty groups
    assert max(membership.values()) >= 2  # users in several groups
    assert len(membership) < 300  # users in none


def test_same_seed_same_data_other_seed_other_data(aws: Emulator, cognito: Any) -> None:
    def snapshot(pool_id: str) -> list[tuple[Any, ...]]:
        return sorted(
            (user["Username"], tuple(sorted(attrs(user).items())), user["UserStatus"], user["Enabled"], user["UserCreateDate"])
            for user in all_users(cognito, pool_id)
        )

    first = snapshot(aws.seed(REGION, users=120, groups=5, seed=42))
    again = snapshot(aws.seed(REGION, users=120, groups=5, seed=42))
    other = snapshot(aws.seed(REGION, users=120, groups=5, seed=43))
    assert first == again
    assert first != other


def test_email_username_pool_uses_uuid_usernames(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=50, groups=2, username_attribute="email")
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["UsernameAttributes"] == ["email"]
    users = all_users(cognito, pool_id)
    for user in users:
        assert user["Username"] == attrs(user)["sub"]
        uuid.UUID(user["Username"])
    email = attrs(users[0])["email"]
    assert cognito.admin_get_user(UserPoolId=pool_id, Username=email)["Username"] == users[0]["Username"]


def test_one_group_each_is_round_robin(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=200, groups=10, one_group_each=True)
    groups = all_groups(cognito, pool_id)
    everyone = []
    for group in groups:
        names = members(cognito, pool_id, group["GroupName"])
        assert len(names) == 20
        everyone += names
    assert len(everyone) == len(set(everyone)) == 200


def test_federated_users_and_mfa(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=20, groups=2, federated=4, mfa="OPTIONAL", pool_name="with-federated")
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["Name"] == "with-federated"
    assert pool["MfaConfiguration"] == "OPTIONAL"
    federated = [user for user in all_users(cognito, pool_id) if user["UserStatus"] == "EXTERNAL_PROVIDER"]
    assert len(federated) == 4
    assert all(user["Username"].startswith("Google_") and "identities" in attrs(user) for user in federated)


def test_seed_rejects_bad_options(aws: Emulator) -> None:
    with pytest.raises(RuntimeError, match="mfa"):
        aws.seed(REGION, users=1, groups=0, mfa="SOMETIMES")


def test_seeding_is_fast(aws: Emulator, cognito: Any) -> None:
    began = time.perf_counter()
    pool_id = aws.seed(REGION, users=20_000, groups=200, one_group_each=True)
    assert time.perf_counter() - began < 10
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["EstimatedNumberOfUsers"] == 20_000
