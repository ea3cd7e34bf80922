"""The backup table's item format: one codec used by the export and the import alike.

The format is the retired "Cognito User Profiles Export Reference Architecture"'s, so its
tables stay importable. Its `type` values of users, groups and the timestamp carried a
`-<uuid>` suffix; ours do not. Both forms decode. Attributes we add: `digest` (content hash,
so unchanged items are not rewritten), `shardKey` (partition key of the `byShard` index,
so a shard's items are read without scanning the table) and a group's `roleArn`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

try:
    from msgspec.json import encode as _compact_json
except ImportError:  # Airflow 2.x: no msgspec

    def _compact_json(content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()

USER = "USER"
GROUP = "GROUP"
MEMBERSHIP = "GROUP_MEMBER"
MANIFEST = "SYNC_TIMESTAMP"
SNAPSHOT = "POOL_SNAPSHOT"
RATE_LIMIT = "RATE_LIMIT"
STAGED_DELETIONS = "STAGED_DELETIONS"
MEMBER_SET = "MEMBER_SET"
MEMBERSHIP_PREFIX = MEMBERSHIP + "-"  # how a membership's partition id and its type begin

MANIFEST_ID = "latest-export-timestamp"
SNAPSHOT_ID = "pool-snapshot"
RATE_LIMIT_ID = "rate-limit"
STAGED_DELETIONS_ID = "staged-deletions"

SHARD_INDEX = "byShard"
GROUPS_SHARD = "GROUP"
# Users are indexed by the first two hex digits of their sub: 256 index partitions, which
# serve any shard count from 1 to 4096 (a longer prefix is a key-condition begins_with).
USER_SHARD_PREFIX_LEN = 2

HEX = "0123456789abcdef"


def user_shard_key(sub: str) -> str:
    return f"{USER}#{sub[:USER_SHARD_PREFIX_LEN]}"


def kind_of(item: dict[str, Any]) -> str:
    """The kind of an item, from its `type` in either form (`USER` or `USER-<uuid>`)."""
    item_type = item["type"]
    if item_type.startswith(MEMBERSHIP + "-"):
        return MEMBERSHIP
    base = item_type.split("-", 1)[0]
    return base


def is_legacy(item: dict[str, Any]) -> bool:
    """True for user, group and timestamp items written with the retired solution's suffix."""
    return kind_of(item) in (USER, GROUP, MANIFEST) and item["type"] != kind_of(item)


def digest(content: Any) -> str:
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def fields_digest(fields: list[Any]) -> str:
    """`digest` of a list of strings, numbers, booleans and lists of them, as an export makes
    one for every user and membership it lists.

    msgspec writes such a list byte for byte as `json.dumps` does (compact, non-ASCII as it is,
    the same escapes; checked for every code point), so stored digests still match, in a fifth
    of the time: 13% of an unchanged export's per-user CPU went to `json.dumps` (profiled).
    """
    return hashlib.sha256(_compact_json(fields)).hexdigest()[:32]


def pseudo_username(username: str, attributes: dict[str, str], username_attributes: list[str]) -> str:
    """The value a user signs in with: the username, or the email/phone in pools that use it."""
    for name in username_attributes:
        if attributes.get(name):
            return attributes[name]
    return username


@dataclass(frozen=True)
class User:
    sub: str
    username: str
    pseudo_username: str
    attributes: tuple[tuple[str, str], ...]
    enabled: bool
    status: str

    @classmethod
    def from_cognito(cls, user: dict[str, Any], username_attributes: list[str]) -> User:
        """From a `ListUsers` / `ListUsersInGroup` entry."""
        attrs = tuple((a["Name"], a.get("Value", "")) for a in user.get("Attributes", []))
        by_name = dict(attrs)
        return cls(
            sub=by_name["sub"],
            username=user["Username"],
            pseudo_username=pseudo_username(user["Username"], by_name, username_attributes),
            attributes=attrs,
            enabled=bool(user.get("Enabled", True)),
            status=user.get("UserStatus", ""),
        )

    @property
    def attribute_map(self) -> dict[str, str]:
        return dict(self.attributes)

    @cached_property  # once: the export compares it, then writes it in the item
    def digest(self) -> str:
        return fields_digest([self.username, self.pseudo_username, sorted(self.attributes), self.enabled, self.status])

    def to_item(self, confirmed_at: int, region: str) -> dict[str, Any]:
        return {
            "id": f"USER-{self.sub}",
            "type": USER,
            "username": self.username,
            "pseudoUsername": self.pseudo_username,
            "userAttributes": [{"Name": n, "Value": v} for n, v in self.attributes],
            "userEnabled": self.enabled,
            "userStatus": self.status,
            "lastConfirmedInUserPool": confirmed_at,
            "lastUpdatedRegion": region,
            "digest": self.digest,
            "shardKey": user_shard_key(self.sub),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> User:
        attrs = tuple((a["Name"], a.get("Value", "")) for a in item.get("userAttributes", []))
        return cls(
            sub=item["id"].removeprefix("USER-"),
            username=item["username"],
            pseudo_username=item.get("pseudoUsername") or item["username"],
            attributes=attrs,
            enabled=bool(item.get("userEnabled", True)),
            status=item.get("userStatus", ""),
        )


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""
    precedence: int = -1
    role_arn: str = ""
    last_modified: str = ""

    @classmethod
    def from_cognito(cls, group: dict[str, Any]) -> Group:
        precedence = group.get("Precedence")
        return cls(
            name=group["GroupName"],
            description=group.get("Description") or "",
            precedence=-1 if precedence is None else int(precedence),
            role_arn=group.get("RoleArn") or "",
            last_modified=str(group.get("LastModifiedDate", "")),
        )

    @cached_property
    def digest(self) -> str:
        # The modification date is left out: it changes without the group changing.
        return fields_digest([self.name, self.description, self.precedence, self.role_arn])

    def to_item(self, confirmed_at: int, region: str) -> dict[str, Any]:
        item = {
            "id": f"GROUP-{self.name}",
            "type": GROUP,
            "groupName": self.name,
            "groupDescription": self.description,
            "groupPrecedence": self.precedence,
            "groupLastModifiedDate": self.last_modified,
            "lastConfirmedInUserPool": confirmed_at,
            "lastUpdatedRegion": region,
            "digest": self.digest,
            "shardKey": GROUPS_SHARD,
        }
        if self.role_arn:
            item["roleArn"] = self.role_arn
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Group:
        return cls(
            name=item.get("groupName") or item["id"].removeprefix("GROUP-"),
            description=item.get("groupDescription") or "",
            precedence=int(item.get("groupPrecedence", -1)),
            role_arn=item.get("roleArn") or "",
            last_modified=str(item.get("groupLastModifiedDate", "")),
        )

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of Cognito's `CreateGroup` for this group."""
        kwargs: dict[str, Any] = {"GroupName": self.name}
        if self.description:
            kwargs["Description"] = self.description
        if self.precedence >= 0:
            kwargs["Precedence"] = self.precedence
        if self.role_arn:
            kwargs["RoleArn"] = self.role_arn
        return kwargs


@dataclass(frozen=True)
class Membership:
    group: str
    sub: str
    username: str
    pseudo_username: str

    @classmethod
    def from_cognito(cls, group: str, user: dict[str, Any], username_attributes: list[str]) -> Membership:
        """From a `ListUsersInGroup` entry: only what the item keeps of the user."""
        attributes = {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}
        username = user["Username"]
        return cls(group, attributes["sub"], username, pseudo_username(username, attributes, username_attributes))

    @cached_property
    def digest(self) -> str:
        return fields_digest([self.username, self.pseudo_username])

    @staticmethod
    def partition(group: str) -> str:
        return f"{MEMBERSHIP}-{group}"

    def to_item(self, confirmed_at: int, region: str) -> dict[str, Any]:
        return {
            "id": self.partition(self.group),
            "type": f"{MEMBERSHIP}-{self.sub}",
            "groupUser": self.username,
            "groupPseudoUsername": self.pseudo_username,
            "groupName": self.group,
            "lastConfirmedInUserPool": confirmed_at,
            "lastUpdatedRegion": region,
            "digest": self.digest,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Membership:
        return cls(
            group=item.get("groupName") or item["id"].removeprefix(MEMBERSHIP + "-"),
            sub=item["type"].removeprefix(MEMBERSHIP + "-"),
            username=item["groupUser"],
            pseudo_username=item.get("groupPseudoUsername") or item["groupUser"],
        )


def member_set_item(group: str, members_digest: str) -> dict[str, Any]:
    """The `MEMBER_SET` item of a group's membership partition: its members in one digest
    (`member_set_digest`), so that an export can tell an unchanged group without reading its
    items (`export/member_sets.py`). No reader of memberships sees it: their `type` begins
    with `GROUP_MEMBER-`, and `kind_of` gives it a kind of its own."""
    return {"id": Membership.partition(group), "type": MEMBER_SET, "digest": members_digest}


def member_set_digest(members: list[tuple[str, str]]) -> str:
    """One digest of (sub, membership digest) pairs, whatever their order: their count and a
    digest of them sorted."""
    return f"{len(members)}:{fields_digest(sorted(members))}"


@dataclass
class Manifest:
    """The `latest-export-timestamp` item, plus what the run did."""

    exported_at: int
    counts: dict[str, int] = field(default_factory=dict)
    duration_seconds: float = 0.0
    snapshot_taken_at: int = 0
    mfa_reenrolment_needed: bool = False
    user_pool_id: str = ""
    deletions_held_back: dict[str, int] = field(default_factory=dict)  # kind -> count, when the guard held them

    def to_item(self, region: str) -> dict[str, Any]:
        item = {
            "id": MANIFEST_ID,
            "type": MANIFEST,
            "latestExportTimestamp": self.exported_at,
            "counts": self.counts,
            "durationSeconds": Decimal(str(round(self.duration_seconds, 3))),
            "snapshotRef": {"id": SNAPSHOT_ID, "type": SNAPSHOT, "takenAt": self.snapshot_taken_at},
            "mfaReenrolmentNeeded": self.mfa_reenrolment_needed,
            "userPoolId": self.user_pool_id,
            "lastUpdatedRegion": region,
        }
        if self.deletions_held_back:
            item["deletionsHeldBack"] = self.deletions_held_back
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Manifest:
        ref = item.get("snapshotRef") or {}
        return cls(
            exported_at=int(item["latestExportTimestamp"]),
            counts={k: int(v) for k, v in (item.get("counts") or {}).items()},
            duration_seconds=float(item.get("durationSeconds", 0)),
            snapshot_taken_at=int(ref.get("takenAt", 0)),
            mfa_reenrolment_needed=bool(item.get("mfaReenrolmentNeeded", False)),
            user_pool_id=item.get("userPoolId", ""),
            deletions_held_back={k: int(v) for k, v in (item.get("deletionsHeldBack") or {}).items()},
        )


def to_dynamodb(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An item of this codec in DynamoDB's JSON form, for the plain (low-level) client.

    boto3's resource layer does this with its TypeSerializer after a deep copy of every request:
    measured, about half of a first export's task CPU. The codec's items hold only strings,
    booleans, numbers, lists and maps, so a few lines do it.
    """
    return {name: _attribute(value) for name, value in item.items()}


def _attribute(value: Any) -> dict[str, Any]:
    # The codec's own types first, by exact type: a third quicker than the checks below, which
    # take the rest (subclasses, numbers of other kinds, None).
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {k: _attribute(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, dict):
        return {"M": {k: _attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_attribute(v) for v in value]}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints/floats, recursively (for JSON and comparisons)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def staged_partition(run_key: str) -> str:
    """The partition holding one export run's staged deletions (see `BackupTableHook.stage_deletions`)."""
    return f"{STAGED_DELETIONS_ID}#{run_key}"


def staged_type(scope: str, chunk: int) -> str:
    return f"{STAGED_DELETIONS}#{scope}#{chunk:05d}"
