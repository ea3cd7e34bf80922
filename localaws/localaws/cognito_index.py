"""Ordered indexes over moto's Cognito users, so that paging and lookups do not walk
the whole pool.

moto keeps a pool's users in a plain dict and a group's members in a plain set, and
every ListUsers / ListUsersInGroup page or sign-in-alias lookup scans all of them. We
replace those two containers (on every new pool and group) with drop-in versions that
keep sorted keys up to date on each insert and delete:

- ``PoolUsers``: username -> user, plus usernames in sorted order and subs in sorted
  order (for ``sub ^= "a"`` shards), plus an alias index (email / phone_number -> user)
  for pools whose UsernameAttributes let users sign in with those.
- ``GroupMembers``: the set of member users, plus their usernames in sorted order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, MutableMapping
from typing import Any

from moto.cognitoidp.models import CognitoIdpGroup, CognitoIdpUser, CognitoIdpUserPool

# Set on each user while it is in a pool, so that attribute changes reach that pool's index.
_CONTAINER = "_localaws_pool_users"


def _remove_sorted(keys: list[str], key: str) -> None:
    index = bisect.bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        del keys[index]


class PoolUsers(MutableMapping[str, CognitoIdpUser]):
    def __init__(self) -> None:
        self._users: dict[str, CognitoIdpUser] = {}
        self.usernames: list[str] = []  # sorted
        self.subs: list[str] = []  # sorted
        self.by_sub: dict[str, CognitoIdpUser] = {}
        # email / phone_number -> user; built on first use, extended on insert, dropped
        # when a user leaves or an attribute changes.
        self._alias: dict[str, CognitoIdpUser] | None = None
        self._alias_attributes: tuple[str, ...] = ()

    def __getitem__(self, username: str) -> CognitoIdpUser:
        return self._users[username]

    def __setitem__(self, username: str, user: CognitoIdpUser) -> None:
        if username in self._users:
            del self[username]
        self._users[username] = user
        bisect.insort(self.usernames, username)
        bisect.insort(self.subs, user.id)
        self.by_sub[user.id] = user
        self._adopt(user)

    def add_many(self, users: list[CognitoIdpUser]) -> None:
        """Bulk insert of new users (seeding): one sort instead of one insort per user."""
        names = {user.username for user in users}
        if len(names) != len(users) or not names.isdisjoint(self._users):
            raise KeyError("duplicate usernames")
        for user in users:
            self._users[user.username] = user
            self.by_sub[user.id] = user
            self._adopt(user)
        self.usernames.extend(user.username for user in users)
        self.usernames.sort()
        self.subs.extend(user.id for user in users)
        self.subs.sort()

    def __delitem__(self, username: str) -> None:
        user = self._users.pop(username)
        _remove_sorted(self.usernames, username)
        _remove_sorted(self.subs, user.id)
        self.by_sub.pop(user.id, None)
        setattr(user, _CONTAINER, None)
        self._alias = None  # another user may hold the same alias value

    def __iter__(self) -> Iterator[str]:
        return iter(self._users)

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, username: object) -> bool:
        return username in self._users

    # Faster than the MutableMapping mixins, which go through __getitem__ per key.
    def get(self, username: str, default: Any = None) -> Any:
        return self._users.get(username, default)

    def values(self) -> Any:
        return self._users.values()

    def items(self) -> Any:
        return self._users.items()

    def attributes_changed(self) -> None:
        self._alias = None

    def by_alias(self, username_attributes: tuple[str, ...], value: str) -> CognitoIdpUser | None:
        """The user whose email / phone_number (per UsernameAttributes) is ``value``.

        Same answer as moto's scan: the first user in insertion order wins.
        """
        if self._alias is None or self._alias_attributes != username_attributes:
            self._alias, self._alias_attributes = {}, username_attributes
            for user in self._users.values():
                self._add_alias(self._alias, user)
        return self._alias.get(value)

    def _adopt(self, user: CognitoIdpUser) -> None:
        setattr(user, _CONTAINER, self)
        if self._alias is not None:
            self._add_alias(self._alias, user)

    def _add_alias(self, alias: dict[str, CognitoIdpUser], user: CognitoIdpUser) -> None:
        for name in self._alias_attributes:
            value = user.attribute_lookup.get(name)
            if value is not None:
                alias.setdefault(value, user)


class GroupMembers(set[CognitoIdpUser]):
    """moto's group member set, also keeping members' usernames sorted."""

    def __init__(self) -> None:
        super().__init__()
        self.usernames: list[str] = []

    def add(self, user: CognitoIdpUser) -> None:
        if user not in self:
            super().add(user)
            bisect.insort(self.usernames, user.username)

    def discard(self, user: CognitoIdpUser) -> None:
        if user in self:
            super().discard(user)
            _remove_sorted(self.usernames, user.username)

    def remove(self, user: CognitoIdpUser) -> None:
        if user not in self:
            raise KeyError(user)
        self.discard(user)

    def clear(self) -> None:
        super().clear()
        self.usernames.clear()

    def _unsupported(self, *args: Any, **kwargs: Any) -> None:
        # moto only uses add/discard/remove; anything else would bypass the index.
        raise TypeError("GroupMembers supports add, discard, remove and clear only")

    pop = update = difference_update = intersection_update = symmetric_difference_update = _unsupported
    __ior__ = __iand__ = __isub__ = __ixor__ = _unsupported


def _attributes_changed(user: CognitoIdpUser) -> None:
    container = getattr(user, _CONTAINER, None)
    if container is not None:
        container.attributes_changed()


def _get_user(self: CognitoIdpUserPool, username: str) -> CognitoIdpUser | None:
    """moto's lookup by Username or by a UsernameAttributes value, through the index."""
    attributes = self.extended_config.get("UsernameAttributes")
    if attributes:
        user = self.users.by_alias(tuple(attributes), username)
        if user is not None:
            return user
    return self.users.get(username)


def install() -> None:
    """Patch moto's Cognito models (idempotent)."""
    if getattr(CognitoIdpUserPool, "_localaws_indexed", False):
        return
    pool_init = CognitoIdpUserPool.__init__
    group_init = CognitoIdpGroup.__init__
    update_attributes = CognitoIdpUser.update_attributes
    delete_attributes = CognitoIdpUser.delete_attributes

    def init_pool(self: CognitoIdpUserPool, *args: Any, **kwargs: Any) -> None:
        pool_init(self, *args, **kwargs)
        self.users = PoolUsers()

    def init_group(self: CognitoIdpGroup, *args: Any, **kwargs: Any) -> None:
        group_init(self, *args, **kwargs)
        self.users = GroupMembers()

    def on_update(self: CognitoIdpUser, *args: Any, **kwargs: Any) -> None:
        update_attributes(self, *args, **kwargs)
        _attributes_changed(self)

    def on_delete(self: CognitoIdpUser, *args: Any, **kwargs: Any) -> None:
        delete_attributes(self, *args, **kwargs)
        _attributes_changed(self)

    CognitoIdpUserPool.__init__ = init_pool
    CognitoIdpGroup.__init__ = init_group
    CognitoIdpUser.update_attributes = on_update
    CognitoIdpUser.delete_attributes = on_delete
    CognitoIdpUserPool._get_user = _get_user
    CognitoIdpUserPool._localaws_indexed = True
