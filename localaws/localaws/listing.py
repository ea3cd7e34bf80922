"""ListUsers and ListUsersInGroup, paged over the ordered indexes of ``cognito_index``.

Users come in username order (by sub for ``sub`` filters). The PaginationToken / NextToken
is an opaque encoding of the last key returned, so each page resumes with a binary
search: a page costs O(page), not O(pool), including ``sub ^= "<hex>"`` shards. Filters
on other attributes scan forward from the token until the page is full.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from moto.cognitoidp.models import CognitoIdpUser

from localaws.cognito import Handler, epoch, invalid, not_found, page_limit, required, status_name, user_pool
from localaws.cognito_index import PoolUsers
from localaws.protocol import AwsCall

FILTERABLE = (
    "username",
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "cognito:user_status",
    "status",
    "sub",
)
_FILTER = re.compile(r'^\s*([\w:]+)\s*(\^?=)\s*"(.*)"\s*$', re.DOTALL)


def _user_json(user: CognitoIdpUser, attributes_to_get: list[str] | None) -> dict[str, Any]:
    attributes = user.attributes
    if attributes_to_get is not None:
        wanted = set(attributes_to_get)
        attributes = [a for a in attributes if a["Name"] in wanted]
    return {
        "Username": user.username,
        "Attributes": attributes,
        "UserCreateDate": epoch(user.create_date),
        "UserLastModifiedDate": epoch(user.last_modified_date),
        "Enabled": user.enabled,
        "UserStatus": status_name(user),
    }


def _encode_token(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode()


def _decode_token(token: str | None, kind: str) -> str | None:
    if token is None:
        return None
    try:
        token_kind, key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise invalid("Invalid pagination token.") from None
    if token_kind != kind or not isinstance(key, str):
        raise invalid("Invalid pagination token.")
    return key


def _page(keys: Iterator[str], limit: int) -> tuple[list[str], bool]:
    """Up to ``limit`` keys, and whether at least one more follows."""
    page = []
    for key in keys:
        if len(page) == limit:
            return page, True
        page.append(key)
    return page, False


def _sorted_from(keys: list[str], after: str | None, prefix: str = "") -> Iterator[str]:
    """Keys of a sorted list that start with ``prefix``, after ``after`` (exclusive)."""
    start = bisect.bisect_right(keys, after) if after is not None else 0
    start = max(start, bisect.bisect_left(keys, prefix))
    for index in range(start, len(keys)):
        key = keys[index]
        if not key.startswith(prefix):
            return
        yield key


def _matcher(name: str, operator: str, value: str) -> Callable[[CognitoIdpUser], bool]:
    def compare(actual: str | None) -> bool:
        if actual is None:
            return False
        return actual == value if operator == "=" else actual.startswith(value)

    if name == "username":
        return lambda user: compare(user.username)
    if name == "status":
        return lambda user: compare("Enabled" if user.enabled else "Disabled")
    if name == "cognito:user_status":
        return lambda user: compare(status_name(user))
    return lambda user: compare(user.attribute_lookup.get(name))


def _parse_filter(text: str | None) -> tuple[str, str, str] | None:
    if not text:
        return None
    match = _FILTER.match(text)
    if not match:
        raise invalid("Error while parsing filter.")
    name, operator, value = match.groups()
    if name not in FILTERABLE:
        raise invalid(f"Invalid search attribute: {name}")
    return name, operator, value


def _filtered_users(users: PoolUsers, spec: tuple[str, str, str] | None, token: str | None, limit: int) -> tuple[list[CognitoIdpUser], str | None]:
    """One page of users matching ``spec`` and the token for the next page."""
    if spec is not None and spec[0] == "sub":
        _, operator, value = spec
        after = _decode_token(token, "sub")
        if operator == "=":
            keys = iter([value] if value in users.by_sub and (after is None or value > after) else [])
        else:
            keys = _sorted_from(users.subs, after, value)
        page, more = _page(keys, limit)
        found = [users.by_sub[sub] for sub in page]
        return found, _encode_token("sub", page[-1]) if more else None

    after = _decode_token(token, "username")
    if spec is None:
        keys = _sorted_from(users.usernames, after)
    elif spec[0] == "username":
        _, operator, value = spec
        if operator == "=":
            keys = iter([value] if value in users and (after is None or value > after) else [])
        else:
            keys = _sorted_from(users.usernames, after, value)
    else:
        matches = _matcher(*spec)
        keys = (name for name in _sorted_from(users.usernames, after) if matches(users[name]))
    page, more = _page(keys, limit)
    return [users[name] for name in page], _encode_token("username", page[-1]) if more else None


def list_users(call: AwsCall) -> dict[str, Any]:
    params = call.params
    pool = user_pool(call.account, call.region, required(params, "UserPoolId"))
    limit = page_limit(params, "Limit")
    spec = _parse_filter(params.get("Filter"))
    attributes_to_get = params.get("AttributesToGet")
    found, token = _filtered_users(pool.users, spec, params.get("PaginationToken"), limit)
    reply: dict[str, Any] = {"Users": [_user_json(user, attributes_to_get) for user in found]}
    if token:
        reply["PaginationToken"] = token
    return reply


def list_users_in_group(call: AwsCall) -> dict[str, Any]:
    params = call.params
    pool = user_pool(call.account, call.region, required(params, "UserPoolId"))
    group_name = required(params, "GroupName")
    group = pool.groups.get(group_name)
    if group is None:
        raise not_found(f"Group {group_name} not found.")
    limit = page_limit(params, "Limit")
    after = _decode_token(params.get("NextToken"), "member")
    page, more = _page(_sorted_from(group.users.usernames, after), limit)
    reply: dict[str, Any] = {"Users": [_user_json(pool.users[name], None) for name in page]}
    if more:
        reply["NextToken"] = _encode_token("member", page[-1])
    return reply


HANDLERS: dict[str, Handler] = {
    "ListUsers": list_users,
    "ListUsersInGroup": list_users_in_group,
}
