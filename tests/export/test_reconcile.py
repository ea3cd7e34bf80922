"""A listing is compared with what the table holds; its first pages are listed while the table is read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cognito_backup import items
from cognito_backup.export.reconcile import Reconciler, reconciling
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.hooks.cognito import CognitoHook
from localaws.testing import Emulator

REGION = "us-east-1"
CONFIRMED_AT = 1_700_000_000_000
QUERY_DELAY = 3.0


@pytest.fixture
def table(aws: Emulator) -> BackupTableHook:
    hook = BackupTableHook("reconcile", region_name=REGION)
    hook.create()
    hook.wait_until_active()
    return hook


def members(pool: str, group: str) -> list[items.Membership]:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    found = []
    for page in cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool, GroupName=group):
        for raw in page["Users"]:
            sub = next(a["Value"] for a in raw["Attributes"] if a["Name"] == "sub")
            found.append(items.Membership(group, sub, raw["Username"], raw["Username"]))
    return found


@pytest.mark.parametrize(("ahead", "shared_reader"), [(3, False), (8, False), (8, True)])
def test_a_listing_starts_while_its_stored_digests_are_read(
    aws: Emulator, table: BackupTableHook, ahead: int, shared_reader: bool
) -> None:
    pool = aws.seed(REGION, users=700, groups=2, one_group_each=True, seed=5)
    group = boto3.client("cognito-idp", region_name=REGION).list_groups(UserPoolId=pool)["Groups"][0]["GroupName"]
    listed = members(pool, group)
    assert len(listed) > 5 * 60  # six pages of 60
    # Stored: all but 20 members, 10 of them with another digest, and 5 members gone since.
    stored = [m.to_item(CONFIRMED_AT, REGION) for m in listed[20:]]
    for item in stored[:10]:
        item["digest"] = "changed"
    gone = [items.Membership(group, f"gone-{i}", f"user-{i}", f"user-{i}") for i in range(5)]
    with table.writer() as batch:
        for item in stored + [m.to_item(CONFIRMED_AT, REGION) for m in gone]:
            batch.put_item(Item=item)

    cognito = CognitoHook(region_name=REGION)
    _ = cognito.conn, table.plain_client  # clients made beforehand: the listing's calls are all it does in the delay
    aws.set_faults([{"operation": "Query", "kind": "delay", "seconds": QUERY_DELAY, "fraction": 1.0}])
    mark = aws.mark()
    with ThreadPoolExecutor(max_workers=1) as reader:  # a task's reader, shared by its listings
        rec, pages = reconciling(lambda: table.stored_membership_digests(group),
                                 cognito.list_users_in_group(pool, group), ahead=ahead,
                                 reader=reader if shared_reader else None)
    calls = aws.requests(since=mark)
    (query,) = [r for r in calls if r["operation"] == "Query"]
    early = [r for r in calls if r["operation"] == "ListUsersInGroup"]
    # The first pages were listed during the table read, and no more than `ahead` of them.
    assert len(early) == min(ahead, 6)
    assert all(r["time"] < query["time"] + QUERY_DELAY for r in early)

    written = [m for page in pages for m in page if rec.needs_write(*member_digest(group, m))]
    assert len(written) == 30
    assert (rec.counts.listed, rec.counts.written, rec.counts.unchanged, rec.counts.stored) == (len(listed), 30, len(listed) - 30, len(listed) - 15)
    assert sorted(rec.gone()) == sorted(m.sub for m in gone)
    assert len([r for r in aws.requests(since=mark) if r["operation"] == "ListUsersInGroup"]) == 6


def member_digest(group: str, raw: dict[str, Any]) -> tuple[str, str]:
    user = items.User.from_cognito(raw, [])
    return user.sub, items.Membership(group, user.sub, user.username, user.pseudo_username).digest


def test_a_failed_table_read_fails_the_listing(aws: Emulator, table: BackupTableHook) -> None:
    pool = aws.seed(REGION, users=10, groups=1, one_group_each=True, seed=6)
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=table.table_name)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        reconciling(lambda: table.stored_membership_digests("any"), CognitoHook(region_name=REGION).list_users(pool))


def test_a_key_listed_twice_is_written_once_and_stays_backed_up() -> None:
    rec = Reconciler([("changed", "old"), ("same", "d"), ("gone", "d")])
    assert rec.needs_write("changed", "new")
    assert not rec.needs_write("changed", "new")  # listed again (a listing paged while the pool changed)
    assert not rec.needs_write("same", "d")
    assert rec.needs_write("new", "d")
    assert not rec.needs_write("new", "d")
    assert rec.gone() == ["gone"]
    assert (rec.counts.listed, rec.counts.written, rec.counts.unchanged, rec.counts.stored, rec.counts.gone) == (3, 2, 1, 3, 1)
