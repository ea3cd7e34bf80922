"""What a seeded user pool contains, generated from a seed and inserted straight into
moto's Cognito backend (no API call per user).

The data is reproducible for a given seed and deliberately awkward: custom attributes,
values with commas, double quotes, backslashes and non-ASCII text, disabled,
UNCONFIRMED and unverified users, users in several groups or in none, empty groups,
groups with and without description / precedence / RoleArn, federated users. The first
users and groups of every pool cover each edge case, so even small pools have them all.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import uuid
from typing import Any

from moto.cognitoidp.models import CognitoIdpUser, CognitoIdpUserPool, CognitoIdpUserPoolAttribute, UserStatus

from localaws import backends
from localaws.cognito import build_user
from localaws.seed import MFA_MODES, USERNAME_ATTRIBUTES

CUSTOM_ATTRIBUTES = [
    {"Name": "department", "AttributeDataType": "String", "Mutable": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "256"}},
    {"Name": "employee_id", "AttributeDataType": "Number", "Mutable": True, "NumberAttributeConstraints": {"MinValue": "0"}},
    {"Name": "nickname_note", "AttributeDataType": "String", "Mutable": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
]

GIVEN_NAMES = [
    "Zoë", "José", "Ana", "Liam", "Olivia", "Noah", "Emma", "Jean-Luc", "Siobhán", "Björn",
    "太郎", "花子", "Mary Ann", "O'Neil", "François", "Łukasz", "Chloé", "D'Arcy", "Nguyễn Văn", "Ömer",
]
FAMILY_NAMES = [
    "Müller, Jr.", "山田", "Smith", "O'Brien", "García", "Nowak", "van der Berg", "Dupont", "Ångström",
    "Kowalski", "Lee", 'Brown "Bear"', "Back\\slash", "Øster", "Jones", "Silva, III",
]
DEPARTMENTS = [
    "Engineering", "R&D, Europe", 'Sales "West"', "Finance", "Support\\Tier 2", "Marketing",
    "HR", "Operations, APAC", "Légal", "研究開発",
]
# No value ends with a backslash: Cognito's CSV format cannot represent that before a comma.
NOTES = [
    'likes commas, semicolons; and "quotes"', "path C:\\Users\\zoe\\docs", "party 🎉 time", "plain",
    "comma at end,", ",leading comma", "many, many, commas", "Ünïcödé naïve café", "tab\there", "back\\,slash comma",
]
LOCALES = ["en-US", "de-DE", "fr-FR", "ja-JP", "pt-BR"]
GROUP_DESCRIPTIONS = ["Administrators", "Sales, EMEA", 'The "core" team', "Équipe française", "チーム", "Path \\ with backslash"]

# Users 0..n of every pool, in order, take these edge cases.
_EDGE_USERS = ["disabled", "unconfirmed", "email_unverified", "many_groups", "no_groups", "awkward_names", "reset_required", "force_change"]
_EPOCH = datetime.datetime(2022, 1, 1)
_SPAN_SECONDS = 3 * 365 * 24 * 3600


@dataclasses.dataclass
class SeedSpec:
    users: int
    groups: int
    seed: int = 0
    username_attribute: str = "none"
    one_group_each: bool = False
    federated: int = 0
    mfa: str = "OFF"
    pool_name: str | None = None

    def validate(self) -> None:
        if self.users < 0 or self.groups < 0 or self.federated < 0:
            raise ValueError("users, groups and federated must be >= 0")
        if self.username_attribute not in USERNAME_ATTRIBUTES:
            raise ValueError(f"username_attribute must be one of {USERNAME_ATTRIBUTES}")
        if self.mfa not in MFA_MODES:
            raise ValueError(f"mfa must be one of {MFA_MODES}")
        if self.one_group_each and self.users and not self.groups:
            raise ValueError("one_group_each needs at least one group")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeedSpec:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown seed options: {sorted(unknown)}")
        spec = cls(**data)
        spec.validate()
        return spec


def seed(account: str, region: str, spec: SeedSpec) -> dict[str, Any]:
    """Create a new pool filled per ``spec``; returns its id and what went into it."""
    rng = random.Random(spec.seed)
    with backends.STATE_LOCK:
        pool = _create_pool(account, region, spec, rng)
        groups = _create_groups(pool, account, spec, rng)
        users = [_make_user(pool, spec, rng, index) for index in range(spec.users)]
        users += [_make_federated_user(pool, rng) for _ in range(spec.federated)]
        pool.users.add_many(users)
        memberships = _add_memberships(users[: spec.users], groups, spec, rng)
    return {"UserPoolId": pool.id, "Users": len(users), "Groups": len(groups), "Memberships": memberships}


def _create_pool(account: str, region: str, spec: SeedSpec, rng: random.Random) -> CognitoIdpUserPool:
    standard = [{"Name": name, **schema} for name, schema in CognitoIdpUserPoolAttribute.STANDARD_SCHEMA.items()]
    config: dict[str, Any] = {
        "AutoVerifiedAttributes": ["email"],
        "MfaConfiguration": spec.mfa,
        "Schema": standard + CUSTOM_ATTRIBUTES,
    }
    if spec.username_attribute == "email":
        config["UsernameAttributes"] = ["email"]
    name = spec.pool_name or f"seeded-{spec.seed}-{rng.randrange(16**6):06x}"
    pool = backends.cognito(account, region).create_user_pool(name, config)
    if spec.mfa != "OFF":
        pool.token_mfa_config = {"Enabled": True}
    return pool


def _create_groups(pool: CognitoIdpUserPool, account: str, spec: SeedSpec, rng: random.Random) -> list[Any]:
    backend = backends.cognito(account, pool.region)
    awkward = [] if spec.one_group_each else ["admins", "Zoë's-team", "sales,emea", 'quote"d']
    groups = []
    for index in range(spec.groups):
        name = awkward[index] if index < len(awkward) else f"group-{index:04d}"
        # Group 0 has everything, group 1 nothing; the rest vary.
        full, bare = index == 0, index == 1
        description = None if bare else (rng.choice(GROUP_DESCRIPTIONS) if full or rng.random() < 0.7 else None)
        precedence = None if bare else (rng.randrange(0, 100) if full or rng.random() < 0.6 else None)
        role_arn = None if bare else (f"arn:aws:iam::{account}:role/cognito-{index:04d}" if full or rng.random() < 0.25 else None)
        groups.append(backend.create_group(pool.id, name, description, role_arn, precedence))
    return groups


def _make_user(pool: CognitoIdpUserPool, spec: SeedSpec, rng: random.Random, index: int) -> CognitoIdpUser:
    edge = _EDGE_USERS[index] if index < len(_EDGE_USERS) else None
    sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    given = rng.choice(GIVEN_NAMES)
    family = rng.choice(FAMILY_NAMES)
    if edge == "awkward_names":
        given, family = "Zoë", "Müller, Jr."

    roll = rng.random()
    status = UserStatus.CONFIRMED
    if edge == "unconfirmed" or (edge is None and roll < 0.05):
        status = UserStatus.UNCONFIRMED
    elif edge == "force_change" or (edge is None and roll < 0.08):
        status = UserStatus.FORCE_CHANGE_PASSWORD
    elif edge == "reset_required" or (edge is None and roll < 0.10):
        status = UserStatus.RESET_REQUIRED
    email_verified = status is not UserStatus.UNCONFIRMED and edge != "email_unverified" and rng.random() < 0.88
    enabled = edge != "disabled" and (edge is not None or rng.random() >= 0.04)

    email = f"user{index:06d}@example.com" if rng.random() < 0.9 else f"user{index:06d}+tag@example.org"
    attributes = [
        {"Name": "email", "Value": email},
        {"Name": "email_verified", "Value": "true" if email_verified else "false"},
        {"Name": "given_name", "Value": given},
        {"Name": "family_name", "Value": family},
        {"Name": "name", "Value": f"{given} {family}"},
    ]
    if rng.random() < 0.6:
        attributes.append({"Name": "phone_number", "Value": f"+1555{rng.randrange(10**7):07d}"})
        attributes.append({"Name": "phone_number_verified", "Value": "true" if rng.random() < 0.5 else "false"})
    if rng.random() < 0.3:
        attributes.append({"Name": "locale", "Value": rng.choice(LOCALES)})
    attributes.append({"Name": "custom:department", "Value": rng.choice(DEPARTMENTS)})
    attributes.append({"Name": "custom:employee_id", "Value": str(100000 + index)})
    if edge == "awkward_names" or rng.random() < 0.5:
        attributes.append({"Name": "custom:nickname_note", "Value": rng.choice(NOTES)})

    if spec.username_attribute == "email":
        username = sub  # AWS: the internal username of an email-username pool is the sub
    else:
        username = _username(index, rng)
    created = _EPOCH + datetime.timedelta(seconds=rng.randrange(_SPAN_SECONDS))
    modified = created + datetime.timedelta(seconds=rng.randrange(24 * 3600 * 90))
    user = build_user(pool, username, attributes, status, sub=sub, enabled=enabled, created=created, modified=modified)
    if spec.mfa != "OFF" and "phone_number" in user.attribute_lookup and rng.random() < 0.3:
        user.sms_mfa_enabled = True
        user.preferred_mfa_setting = "SMS_MFA"
    return user


def _username(index: int, rng: random.Random) -> str:
    roll = rng.random()
    if index == 5 or roll < 0.01:
        return f"zoë.müller{index}"
    if roll < 0.02:
        return f"comma,user{index}"
    if roll < 0.03:
        return f'quote"user{index}'
    return f"user{index:06d}"


def _make_federated_user(pool: CognitoIdpUserPool, rng: random.Random) -> CognitoIdpUser:
    sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    provider_id = str(rng.randrange(10**20, 10**21))
    identities = [{"userId": provider_id, "providerName": "Google", "providerType": "Google", "issuer": None, "primary": True, "dateCreated": 1700000000000}]
    attributes = [
        {"Name": "email", "Value": f"g{provider_id}@gmail.example"},
        {"Name": "email_verified", "Value": "false"},
        {"Name": "name", "Value": rng.choice(GIVEN_NAMES)},
        {"Name": "identities", "Value": json.dumps(identities)},
    ]
    created = _EPOCH + datetime.timedelta(seconds=rng.randrange(_SPAN_SECONDS))
    return build_user(pool, f"Google_{provider_id}", attributes, "EXTERNAL_PROVIDER", sub=sub, created=created)


def _add_memberships(users: list[CognitoIdpUser], groups: list[Any], spec: SeedSpec, rng: random.Random) -> int:
    if not groups:
        return 0
    if spec.one_group_each:
        for index, user in enumerate(users):
            _join(user, groups[index % len(groups)])
        return len(users)
    # The last tenth of the groups (at least one, when there are two or more) stay empty.
    usable = groups[: len(groups) - max(1, len(groups) // 10)] if len(groups) > 1 else groups
    count = 0
    for index, user in enumerate(users):
        edge = _EDGE_USERS[index] if index < len(_EDGE_USERS) else None
        roll = rng.random()
        if edge == "no_groups" or (edge != "many_groups" and roll < 0.2):
            continue
        wanted = min(len(usable), rng.randint(2, 4) if edge == "many_groups" or roll >= 0.7 else 1)
        for group in rng.sample(usable, wanted):
            _join(user, group)
            count += 1
    return count


def _join(user: CognitoIdpUser, group: Any) -> None:
    group.users.add(user)
    user.groups.add(group)
