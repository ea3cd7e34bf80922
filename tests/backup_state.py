"""What a pool and a backup table hold, in one comparable shape, for exactness assertions."""

from __future__ import annotations

from typing import Any

import boto3

from cognito_backup import items


def table_items(endpoint_env_region: str, table: str) -> list[dict[str, Any]]:
    """Every item of the table (a plain scan, test-side only)."""
    resource = boto3.resource("dynamodb", region_name=endpoint_env_region)
    found, kwargs = [], {}
    while True:
        page = resource.Table(table).scan(ConsistentRead=True, **kwargs)
        found += [items.plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def pool_state(region: str, pool_id: str, with_sub: bool = True) -> dict[str, Any]:
    """Users (by sub, or by username when `with_sub` is false), groups and memberships of a pool."""
    cognito = boto3.client("cognito-idp", region_name=region)
    attrs_info = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    username_attributes = attrs_info.get("UsernameAttributes") or []
    users: dict[str, dict[str, Any]] = {}
    for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for raw in page["Users"]:
            if raw.get("UserStatus") == "EXTERNAL_PROVIDER":
                continue
            user = items.User.from_cognito(raw, username_attributes)
            users[user.sub if with_sub else user.pseudo_username] = _user_view(user, with_sub)
    groups: dict[str, dict[str, Any]] = {}
    members: set[tuple[str, str]] = set()
    for page in cognito.get_paginator("list_groups").paginate(UserPoolId=pool_id):
        for raw in page["Groups"]:
            group = items.Group.from_cognito(raw)
            groups[group.name] = _group_view(group)
            for mpage in cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=group.name):
                for m in mpage["Users"]:
                    if m.get("UserStatus") == "EXTERNAL_PROVIDER":
                        continue
                    user = items.User.from_cognito(m, username_attributes)
                    members.add((group.name, user.sub if with_sub else user.pseudo_username))
    return {"users": users, "groups": groups, "memberships": members}


def backup_state(all_items: list[dict[str, Any]], with_sub: bool = True) -> dict[str, Any]:
    """The same shape, from the table's items (either `type` form)."""
    users, groups, members = {}, {}, set()
    for item in all_items:
        kind = items.kind_of(item)
        if kind == items.USER:
            user = items.User.from_item(item)
            users[user.sub if with_sub else user.pseudo_username] = _user_view(user, with_sub)
        elif kind == items.GROUP:
            group = items.Group.from_item(item)
            groups[group.name] = _group_view(group)
        elif kind == items.MEMBERSHIP:
            m = items.Membership.from_item(item)
            members.add((m.group, m.sub if with_sub else m.pseudo_username))
    return {"users": users, "groups": groups, "memberships": members}


def _user_view(user: items.User, with_sub: bool) -> dict[str, Any]:
    attrs = {n: v for n, v in user.attributes if with_sub or n != "sub"}
    return {
        "username": user.username if with_sub else None,
        "pseudo_username": user.pseudo_username,
        "attributes": attrs,
        "enabled": user.enabled,
        "status": user.status,
    }


def _group_view(group: items.Group) -> dict[str, Any]:
    return {"description": group.description, "precedence": group.precedence, "role_arn": group.role_arn}
