"""The Cognito and backup-table hooks against the emulator: what they list, read and write."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from typing import Any

import botocore.session
import pytest
from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
from botocore.exceptions import ClientError

from backup_state import table_items
from budget import cognito_calls, max_calls_in_any_second
from cognito_backup import items
from cognito_backup.hooks.backup_table import (
    DIGEST_READERS,
    KEY_SCHEMA,
    SHARD_INDEX_SPEC,
    BackupTableHook,
    TableMissingError,
)
from cognito_backup.hooks.client_config import share_loader
from cognito_backup.hooks.cloudwatch import CloudWatchMetricsHook
from cognito_backup.hooks.cognito import PAGE_SIZE, CognitoHook
from cognito_backup.rate_limit import LocalSchedule, RateLimiter
from cognito_backup.restore import csv_file
from cognito_backup.restore.operators import PlanCsvImportOperator
from localaws.testing import Emulator

REGION = "us-east-1"
CONFIRMED_AT = 1_700_000_000_000


def sub_of(raw: dict[str, Any]) -> str:
    return next(a["Value"] for a in raw["Attributes"] if a["Name"] == "sub")


def listed(cognito: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a listing, straight from boto3 (the reference the hooks are held to)."""
    return [entry for page in cognito.get_paginator(operation).paginate(**params) for entry in page[key]]


def keys(found: Any) -> set[tuple[str, str]]:
    return {(item["id"], item["type"]) for item in found}


def write(table: BackupTableHook, new_items: list[dict[str, Any]]) -> None:
    with table.writer() as batch:
        for item in new_items:
            batch.put_item(Item=item)


def retired(item: dict[str, Any]) -> dict[str, Any]:
    """The item as the retired solution wrote it: `<KIND>-<uuid>` type, no digest, no shard key."""
    old = {k: v for k, v in item.items() if k not in ("digest", "shardKey")}
    return {**old, "type": f"{item['type']}-{uuid.uuid4()}"}


@pytest.fixture
def cognito(aws: Emulator) -> Any:
    return aws.client("cognito-idp", REGION)


@pytest.fixture
def pool(aws: Emulator) -> str:
    return aws.seed(REGION, users=150, groups=5, one_group_each=True, seed=1)


@pytest.fixture
def raw_users(cognito: Any, pool: str) -> list[dict[str, Any]]:
    return listed(cognito, "list_users", "Users", UserPoolId=pool)


@pytest.fixture
def users(raw_users: list[dict[str, Any]]) -> list[items.User]:
    return [items.User.from_cognito(raw, []) for raw in raw_users]


@pytest.fixture
def memberships(cognito: Any, pool: str) -> list[items.Membership]:
    found = []
    for group in listed(cognito, "list_groups", "Groups", UserPoolId=pool):
        name = group["GroupName"]
        for raw in listed(cognito, "list_users_in_group", "Users", UserPoolId=pool, GroupName=name):
            found.append(items.Membership(name, sub_of(raw), raw["Username"], raw["Username"]))
    return found


@pytest.fixture
def table(aws: Emulator, request: pytest.FixtureRequest) -> BackupTableHook:
    """A new, active backup table named after the test."""
    name = "hooks-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)
    hook = BackupTableHook(name, region_name=REGION)
    hook.create()
    hook.wait_until_active()
    return hook


# CognitoHook


def test_describe_user_pool(cognito: Any, pool: str) -> None:
    described = CognitoHook().describe_user_pool(pool)
    assert described["Id"] == pool
    assert described["Name"] == cognito.describe_user_pool(UserPoolId=pool)["UserPool"]["Name"]
    assert described["EstimatedNumberOfUsers"] == 150


def test_list_users_pages_through_the_whole_pool(aws: Emulator, pool: str, raw_users: list[dict[str, Any]]) -> None:
    mark = aws.mark()
    pages = list(CognitoHook().list_users(pool))
    assert [len(page) for page in pages] == [60, 60, 30]
    subs = [sub_of(user) for page in pages for user in page]
    assert len(subs) == len(set(subs)) == 150
    assert set(subs) == {sub_of(user) for user in raw_users}
    calls = cognito_calls(aws.requests(since=mark))
    assert [(r["operation"], r["outcome"]) for r in calls] == [("ListUsers", "ok")] * 3
    # A smaller page size is honoured too.
    assert [len(page) for page in CognitoHook().list_users(pool, page_size=25)] == [25] * 6


@pytest.mark.parametrize("digit", ["a", "0"])
def test_sub_filter_returns_exactly_the_matching_users(pool: str, raw_users: list[dict[str, Any]], digit: str) -> None:
    subs = sorted(sub_of(user) for user in raw_users)
    # A one-digit prefix, and a two-digit one that some user has.
    for prefix in (digit, next(s for s in subs if s.startswith(digit))[:2]):
        expected = {s for s in subs if s.startswith(prefix)}
        assert expected, "the test needs at least one match"
        pages = list(CognitoHook().list_users(pool, f'sub ^= "{prefix}"'))
        found = [sub_of(user) for page in pages for user in page]
        assert len(found) == len(set(found))
        assert set(found) == expected, prefix
        assert all(len(page) <= PAGE_SIZE for page in pages)


@pytest.mark.parametrize(
    "seeding",
    [
        {"groups": 5},  # awkward names (quote, comma, non-ASCII) and one empty group
        {"groups": 2, "one_group_each": True},  # 75 members each: two pages per group
    ],
)
def test_groups_and_their_members_match_the_pool(aws: Emulator, cognito: Any, seeding: dict[str, Any]) -> None:
    pool_id = aws.seed(REGION, users=150, seed=2, **seeding)
    hook = CognitoHook()
    group_pages = list(hook.list_groups(pool_id))
    names = [group["GroupName"] for page in group_pages for group in page]
    assert names == [group["GroupName"] for group in listed(cognito, "list_groups", "Groups", UserPoolId=pool_id)]
    assert len(names) == seeding["groups"]
    sizes = []
    for name in names:
        pages = list(hook.list_users_in_group(pool_id, name))
        assert all(len(page) <= PAGE_SIZE for page in pages)
        got = sorted(user["Username"] for page in pages for user in page)
        direct = listed(cognito, "list_users_in_group", "Users", UserPoolId=pool_id, GroupName=name)
        assert got == sorted(user["Username"] for user in direct)
        sizes.append([len(page) for page in pages])
    if seeding.get("one_group_each"):
        assert sizes == [[60, 15], [60, 15]]
    else:
        assert sizes[-1] == [0]  # the seeder leaves the last group empty: one empty page


def aws_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **config_kwargs: Any) -> str:
    """An Airflow AWS connection (from the environment) with these botocore settings."""
    extra: dict[str, Any] = {"region_name": REGION}
    if config_kwargs:
        extra["config_kwargs"] = config_kwargs
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", "extra": extra}))
    return conn_id


def test_listed_users_are_botocores_but_for_timestamps_kept_as_epoch_seconds(cognito: Any, pool: str) -> None:
    ours = [u for page in CognitoHook().list_users(pool) for u in page]
    reference = listed(cognito, "list_users", "Users", UserPoolId=pool)
    stamps = ("UserCreateDate", "UserLastModifiedDate")
    assert [{k: v for k, v in u.items() if k not in stamps} for u in ours] == [
        {k: v for k, v in u.items() if k not in stamps} for u in reference]
    assert [u["UserCreateDate"] for u in ours] == [u["UserCreateDate"].timestamp() for u in reference]
    # Other answers keep botocore's datetimes, in UTC: the same instants.
    described = CognitoHook().describe_user_pool(pool)["CreationDate"]
    assert described == cognito.describe_user_pool(UserPoolId=pool)["UserPool"]["CreationDate"]
    assert described.utcoffset().total_seconds() == 0


def test_retry_config_is_standard_and_a_connection_may_override_it(
    aws: Emulator, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_connection(monkeypatch, "cognito_plain")
    aws_connection(monkeypatch, "cognito_one_retry", retries={"mode": "standard", "max_attempts": 1})
    plain = CognitoHook(aws_conn_id="cognito_plain").conn.meta.config
    # botocore counts `max_attempts` as retries: 10 of them, 11 attempts in all.
    assert plain.retries == {"mode": "standard", "total_max_attempts": 11}
    assert plain.max_pool_connections == 32

    # The connection's retries win over the hook's defaults: one retry, then the throttle surfaces.
    aws.set_faults([{"service": "cognito-idp", "operation": "DescribeUserPool", "kind": "throttle", "count": 3}])
    mark = aws.mark()
    with pytest.raises(ClientError) as error:
        CognitoHook(aws_conn_id="cognito_one_retry").describe_user_pool(pool)
    assert error.value.response["Error"]["Code"] == "TooManyRequestsException"
    attempts = cognito_calls(aws.requests(since=mark))
    assert [(r["operation"], r["outcome"], r["status"]) for r in attempts] == [("DescribeUserPool", "fault", 400)] * 2


def test_a_connection_setting_only_attempts_keeps_standard_retries(
    aws: Emulator, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore replaces `retries` whole: without the hooks' merge the mode falls back to the
    # environment's default, `legacy` on older botocore (as here), which gives up on the first
    # TooManyRequestsException.
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    aws_connection(monkeypatch, "cognito_attempts", retries={"max_attempts": 3})
    hook = CognitoHook(aws_conn_id="cognito_attempts")
    assert hook.conn.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert BackupTableHook("t", aws_conn_id="cognito_attempts").client.meta.config.retries["mode"] == "standard"
    aws.set_faults([{"service": "cognito-idp", "operation": "DescribeUserPool", "kind": "throttle", "count": 2}])
    mark = aws.mark()
    assert hook.describe_user_pool(pool)["Id"] == pool
    attempts = cognito_calls(aws.requests(since=mark))
    assert [r["outcome"] for r in attempts] == ["fault", "fault", "ok"]


def test_a_hook_told_its_caller_names_it_without_walking_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    aws_connection(monkeypatch, "cognito_caller")
    cognito = CognitoHook(aws_conn_id="cognito_caller", caller="ExportUserShardOperator")
    table = BackupTableHook("t", aws_conn_id="cognito_caller", caller="PrepareExportOperator")
    assert "Caller/ExportUserShardOperator" in cognito.conn.meta.config.user_agent_extra
    assert "Caller/PrepareExportOperator" in table.client.meta.config.user_agent_extra
    # Untold, the provider walks the stack for an operator's `execute`; a test has none.
    assert "Caller/Unknown" in CognitoHook(aws_conn_id="cognito_caller").conn.meta.config.user_agent_extra


def test_hooks_of_a_process_read_botocores_data_files_once(aws: Emulator, pool: str, table: BackupTableHook) -> None:
    cognito = CognitoHook(region_name=REGION, caller="test")
    loaders = {id(session._session.get_component("data_loader")) for session in (
        cognito.get_session(REGION), table.get_session(REGION), CloudWatchMetricsHook(region_name=REGION).get_session(REGION),
    )}
    assert len(loaders) == 1
    # The clients made through the shared loader work (a table's resource, the plain client, Cognito).
    assert cognito.describe_user_pool(pool)["Id"] == pool
    assert table.describe()["TableName"] == table.table_name
    assert table.plain_client.describe_table(TableName=table.table_name)["Table"]["TableName"] == table.table_name
    # A session that searches other folders (its own `data_path`) keeps its own loader.
    other = botocore.session.get_session()
    other.set_config_variable("data_path", "/nonexistent-models")
    own = other.get_component("data_loader")
    share_loader(other)
    assert other.get_component("data_loader") is own


def test_worker_threads_scan_with_the_connection_the_tasks_thread_looked_up(
    table: BackupTableHook, users: list[items.User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's threads never look the AWS connection up. On Airflow 3.0 a task asks its
    supervisor for it over one channel with no lock, so look-ups from threads at once mix up."""
    write(table, [user.to_item(CONFIRMED_AT, REGION) for user in users])
    looked_up_on: list[str] = []
    get_connection = AwsGenericHook.get_connection.__func__

    def recorded(cls: type, conn_id: str) -> Any:
        looked_up_on.append(threading.current_thread().name)
        return get_connection(cls, conn_id)

    monkeypatch.setattr(AwsGenericHook, "get_connection", classmethod(recorded))
    plan_task = PlanCsvImportOperator(
        task_id="csv_plan", table_name=table.table_name, region_name=REGION,
        target={"user_pool_id": "us-east-1_abc", "csv_header": list(csv_file.STANDARD_COLUMNS)},
    )
    # What the task does: a parallel scan of the table's users.
    assert csv_file.plan(plan_task.table_hook, plan_task.csv_rules()).users == len(users)
    assert looked_up_on == [threading.current_thread().name]


def test_throttled_listing_is_retried_and_returns_every_user(
    aws: Emulator, pool: str, raw_users: list[dict[str, Any]]
) -> None:
    # The second page is throttled twice: the retries must resend the same pagination token.
    aws.set_faults([{"service": "cognito-idp", "operation": "ListUsers", "kind": "throttle", "after": 1, "count": 2}])
    mark = aws.mark()
    hook = CognitoHook()
    subs = [sub_of(user) for page in hook.list_users(pool) for user in page]
    assert len(subs) == len(set(subs)) == 150
    assert set(subs) == {sub_of(user) for user in raw_users}
    calls = cognito_calls(aws.requests(since=mark))
    assert {r["operation"] for r in calls} == {"ListUsers"}
    assert [r["outcome"] for r in calls] == ["ok", "fault", "fault", "ok", "ok"]
    assert aws.faults()[0]["injected"] == 2
    assert hook.throttled == 2  # what the export reports as throttled calls


def test_rate_limiter_paces_every_attempt(aws: Emulator, pool: str) -> None:
    limiter = RateLimiter(5, LocalSchedule())
    hook = CognitoHook(rate_limiter=limiter)
    aws.set_faults([{"service": "cognito-idp", "operation": "ListUsers", "kind": "throttle", "after": 3, "count": 2}])
    mark = aws.mark()
    hook.describe_user_pool(pool)
    pages = list(hook.list_users(pool, page_size=10))
    assert sum(len(page) for page in pages) == 150
    calls = cognito_calls(aws.requests(since=mark))
    # 1 describe + 15 pages + 2 throttled attempts: the limiter saw (and paced) every one.
    assert len(calls) == 18 == limiter.calls
    assert Counter(r["outcome"] for r in calls) == {"ok": 16, "fault": 2}
    assert max_calls_in_any_second(calls) <= 5 + 1
    times = sorted(r["time"] for r in calls)
    assert times[-1] - times[0] >= 17 * limiter.interval - 0.2


# BackupTableHook


def test_create_describe_and_a_missing_table(aws: Emulator) -> None:
    hook = BackupTableHook("hooks-created", region_name=REGION)
    with pytest.raises(TableMissingError, match=f"hooks-created does not exist in {REGION}"):
        hook.describe()
    hook.create()
    hook.wait_until_active()
    described = hook.describe()
    assert described["TableName"] == "hooks-created" and described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == KEY_SCHEMA
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert described["SSEDescription"]["Status"] == "ENABLED"
    [index] = described["GlobalSecondaryIndexes"]
    assert index["IndexName"] == items.SHARD_INDEX == "byShard"
    assert index["KeySchema"] == SHARD_INDEX_SPEC["KeySchema"]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["digest"]}
    assert hook.item_count() == 0
    # Another table's absence is still reported as such.
    with pytest.raises(TableMissingError):
        BackupTableHook("hooks-never-made", region_name=REGION).describe()


def test_writer_puts_items_in_batches_of_25(aws: Emulator, table: BackupTableHook, users: list[items.User]) -> None:
    new = [user.to_item(CONFIRMED_AT, REGION) for user in users]
    mark = aws.mark()
    write(table, new)
    batches = [r for r in aws.requests(since=mark) if r["service"] == "dynamodb"]
    assert [r["operation"] for r in batches] == ["BatchWriteItem"] * 6
    assert sum(len(r["writes"]) for r in batches) == 150
    stored = {(i["id"], i["type"]): i for i in table_items(REGION, table.table_name)}
    assert stored == {(i["id"], i["type"]): items.plain(i) for i in new}
    assert table.item_count() == 150


@pytest.mark.parametrize("length", [0, 1, 3])
def test_stored_user_digests_reads_one_prefix_from_the_index(
    aws: Emulator, table: BackupTableHook, users: list[items.User], memberships: list[items.Membership], length: int
) -> None:
    groups = [items.Group(name=f"group-{i:04d}") for i in range(5)]
    write(table, [u.to_item(CONFIRMED_AT, REGION) for u in users]
          + [g.to_item(CONFIRMED_AT, REGION) for g in groups]
          + [m.to_item(CONFIRMED_AT, REGION) for m in memberships])
    prefix = users[0].sub[:length]
    expected = {(u.sub, u.digest) for u in users if u.sub.startswith(prefix)}
    aws.set_config(latency_ms=20)
    mark = aws.mark()
    found = list(table.stored_user_digests(prefix, readers=DIGEST_READERS))
    assert len(found) == len(set(found))
    assert set(found) == expected
    reads = [r for r in aws.requests(since=mark) if r["service"] == "dynamodb"]
    # One Query per two-hex-digit index partition under the prefix; never a Scan.
    partitions = {0: 256, 1: 16, 3: 1}[length]
    assert [r["operation"] for r in reads] == ["Query"] * partitions
    assert {r["table"] for r in reads} == {table.table_name}
    # Several partitions are read at once (a small pool's listing waits for all 256 of them).
    assert (2 <= most_at_once(reads) <= DIGEST_READERS) if partitions > 1 else most_at_once(reads) == 1


def most_at_once(records: list[dict[str, Any]]) -> int:
    """The most calls the emulator was answering at one time."""
    events = sorted([(r["time"], 1) for r in records] + [(r["time"] + r["queued"] + r["duration"], -1) for r in records])
    busy = most = 0
    for _, change in events:
        busy += change
        most = max(most, busy)
    return most


def test_stored_group_digests(
    aws: Emulator, table: BackupTableHook, cognito: Any, pool: str, users: list[items.User]
) -> None:
    groups = [items.Group.from_cognito(g) for g in listed(cognito, "list_groups", "Groups", UserPoolId=pool)]
    write(table, [g.to_item(CONFIRMED_AT, REGION) for g in groups] + [u.to_item(CONFIRMED_AT, REGION) for u in users])
    mark = aws.mark()
    found = list(table.stored_group_digests())
    assert sorted(found) == sorted((g.name, g.digest) for g in groups)
    assert len(found) == 5
    assert {r["operation"] for r in aws.requests(since=mark)} == {"Query"}


def test_membership_digests_and_members_round_trip(aws: Emulator, table: BackupTableHook, cognito: Any) -> None:
    # Awkward group names (quote, comma, non-ASCII), varied sizes and one empty group.
    pool_id = aws.seed(REGION, users=150, groups=5, seed=3)
    by_group: dict[str, list[items.Membership]] = {}
    for group in listed(cognito, "list_groups", "Groups", UserPoolId=pool_id):
        name = group["GroupName"]
        by_group[name] = [
            items.Membership(name, sub_of(raw), raw["Username"], raw["Username"])
            for raw in listed(cognito, "list_users_in_group", "Users", UserPoolId=pool_id, GroupName=name)
        ]
    write(table, [m.to_item(CONFIRMED_AT, REGION) for group in by_group.values() for m in group])
    assert sum(1 for group in by_group.values() if group) == 4
    for name, expected in by_group.items():
        digests = list(table.stored_membership_digests(name))
        assert sorted(digests) == sorted((m.sub, m.digest) for m in expected), name
        members = list(table.members(name))
        assert len(members) == len(expected)
        assert set(members) == set(expected), name


def test_delete_partition_deletes_one_groups_memberships(
    table: BackupTableHook, users: list[items.User], memberships: list[items.Membership]
) -> None:
    write(table, [u.to_item(CONFIRMED_AT, REGION) for u in users]
          + [m.to_item(CONFIRMED_AT, REGION) for m in memberships])
    before = keys(table_items(REGION, table.table_name))
    doomed = memberships[0].group
    partition = items.Membership.partition(doomed)
    gone = {(partition, f"{items.MEMBERSHIP}-{m.sub}") for m in memberships if m.group == doomed}
    assert len(gone) == 30  # more than one 25-item batch
    assert table.delete_partition(partition) == 30
    assert keys(table_items(REGION, table.table_name)) == before - gone
    assert list(table.members(doomed)) == []
    assert table.delete_partition(partition) == 0


def test_member_sets_are_read_in_batches_and_stay_apart_from_the_memberships(
    aws: Emulator, table: BackupTableHook, memberships: list[items.Membership]
) -> None:
    write(table, [m.to_item(CONFIRMED_AT, REGION) for m in memberships])
    group = memberships[0].group
    members = [m for m in memberships if m.group == group]
    sets = {f"group-{i:03d}": f"{i}:digest" for i in range(230)}  # three BatchGetItem calls' worth
    sets[group] = items.member_set_digest([(m.sub, m.digest) for m in members])
    table.put_member_sets(sets.items())
    asked = [*sets, *(f"no-set-{i}" for i in range(20))]
    mark = aws.mark()
    assert table.stored_member_sets(asked) == sets
    assert [r["operation"] for r in aws.requests(since=mark)] == ["BatchGetItem"] * 3
    # Readers of a group's memberships never see its set.
    assert sorted(sub for sub, _ in table.stored_membership_digests(group)) == sorted(m.sub for m in members)
    assert len(list(table.members(group))) == table.count_partition(items.Membership.partition(group), "GROUP_MEMBER-") == len(members)

    table.forget_member_sets([group, "group-000", "no-set-0"])
    table.forget_member_set("group-001")
    assert table.stored_member_sets(asked) == {g: d for g, d in sets.items() if g not in (group, "group-000", "group-001")}
    assert table.delete_partition(items.Membership.partition("group-002"), "GROUP_MEMBER-") == 0
    assert "group-002" in table.stored_member_sets(["group-002"])


def test_staged_deletions_round_trip_in_chunks_and_a_retry_replaces_them(
    aws: Emulator, table: BackupTableHook
) -> None:
    subs = [str(uuid.UUID(int=i)) for i in range(5000)]  # some 250 KB of keys: several chunks
    user_keys = [(f"USER-{sub}", items.USER) for sub in subs]
    mark = aws.mark()
    chunks = table.stage_deletions("dag/run-1", "users/a", user_keys)
    assert chunks > 1
    writes = [r for r in aws.requests(since=mark) if r["operation"] == "PutItem"]
    assert len(writes) == chunks and writes[-1]["writes"][0][1].endswith("#00000")  # chunk 0 last
    table.stage_deletions("dag/run-1", "groups", [("GROUP-g", items.GROUP)], ["GROUP_MEMBER-g"])
    table.stage_deletions("dag/run-2", "users/a", [("USER-other", items.USER)])

    staged = list(table.staged_deletions("dag/run-1"))
    assert sorted(tuple(k) for c in staged for k in c["keys"]) == sorted([*user_keys, ("GROUP-g", items.GROUP)])
    assert [p for c in staged for p in c["partitions"]] == ["GROUP_MEMBER-g"]

    # A retried task that found less: its shorter list replaces the longer one.
    assert table.stage_deletions("dag/run-1", "users/a", user_keys[:3], retried=True) == 1
    assert sorted(tuple(k) for c in table.staged_deletions("dag/run-1") for k in c["keys"]) == sorted(
        [*user_keys[:3], ("GROUP-g", items.GROUP)])
    # ... and a retry that found nothing gone takes back what an earlier try staged.
    table.stage_deletions("dag/run-1", "users/a", [], retried=True)
    assert [tuple(k) for c in table.staged_deletions("dag/run-1") for k in c["keys"]] == [("GROUP-g", items.GROUP)]

    assert table.drop_staged_deletions("dag/run-1") >= 2
    assert list(table.staged_deletions("dag/run-1")) == []
    assert [k for c in table.staged_deletions("dag/run-2") for k in c["keys"]] == [["USER-other", items.USER]]
    # Staged items expire, and an import never reads them as backed-up users or groups.
    remaining = table_items(REGION, table.table_name)
    assert all(i["expiresAt"] > 0 for i in remaining)
    assert not list(table.scan_kind(items.USER)) and not list(table.scan_kind(items.GROUP))


def test_count_partition(table: BackupTableHook, memberships: list[items.Membership]) -> None:
    write(table, [m.to_item(CONFIRMED_AT, REGION) for m in memberships])
    group = memberships[0].group
    assert table.count_partition(items.Membership.partition(group)) == sum(m.group == group for m in memberships)
    assert table.count_partition(items.Membership.partition("no-such-group")) == 0


def test_get_put_delete(table: BackupTableHook, users: list[items.User]) -> None:
    item = users[0].to_item(CONFIRMED_AT, REGION)
    assert table.get(item["id"], item["type"]) is None
    table.put(item)
    assert items.plain(table.get(item["id"], item["type"])) == item
    assert items.User.from_item(table.get(item["id"], item["type"])) == users[0]
    table.delete(item["id"], item["type"])
    assert table.get(item["id"], item["type"]) is None
    assert table_items(REGION, table.table_name) == []


def test_put_snapshot_writes_only_changes(aws: Emulator, table: BackupTableHook, pool: str) -> None:
    snapshot = CognitoHook().describe_user_pool(pool)  # datetimes included: stored as strings
    assert table.get_snapshot() is None
    assert table.put_snapshot(snapshot, taken_at=1) is True
    assert table.get_snapshot() == json.loads(json.dumps(snapshot, sort_keys=True, default=str))

    mark = aws.mark()
    assert table.put_snapshot(dict(reversed(list(snapshot.items()))), taken_at=2) is False
    assert [r["operation"] for r in aws.requests(since=mark)] == ["GetItem"]
    assert table.get(items.SNAPSHOT_ID, items.SNAPSHOT)["takenAt"] == 1

    changed = {**snapshot, "MfaConfiguration": "ON"}
    assert table.put_snapshot(changed, taken_at=3) is True
    assert table.get_snapshot()["MfaConfiguration"] == "ON"
    stored = table.get(items.SNAPSHOT_ID, items.SNAPSHOT)
    assert stored["takenAt"] == 3 and stored["lastUpdatedRegion"] == REGION


def test_manifest_round_trips(table: BackupTableHook, pool: str) -> None:
    assert table.get_manifest() is None
    manifest = items.Manifest(
        exported_at=CONFIRMED_AT, counts={"users": 150, "groups": 5, "memberships": 150},
        duration_seconds=12.345, snapshot_taken_at=CONFIRMED_AT - 5, mfa_reenrolment_needed=True, user_pool_id=pool,
    )
    table.put_manifest(manifest)
    assert table.get_manifest() == manifest
    stored = table.get(items.MANIFEST_ID, items.MANIFEST)
    assert stored["type"] == "SYNC_TIMESTAMP" and stored["lastUpdatedRegion"] == REGION


def test_retired_manifest_is_found(table: BackupTableHook) -> None:
    old_type = f"{items.MANIFEST}-{uuid.uuid4()}"
    table.put({"id": items.MANIFEST_ID, "type": old_type, "latestExportTimestamp": 1_600_000_000_000})
    assert table.get_manifest() == items.Manifest(exported_at=1_600_000_000_000)
    # Once this solution writes its own, that one is read.
    table.put_manifest(items.Manifest(exported_at=CONFIRMED_AT))
    assert table.get_manifest() == items.Manifest(exported_at=CONFIRMED_AT)
    stored = keys(table_items(REGION, table.table_name))
    assert stored == {(items.MANIFEST_ID, old_type), (items.MANIFEST_ID, items.MANIFEST)}


def test_legacy_items_are_those_the_index_cannot_see(
    table: BackupTableHook, users: list[items.User], memberships: list[items.Membership]
) -> None:
    current = [u.to_item(CONFIRMED_AT, REGION) for u in users[:100]]
    current += [items.Group(name="readers").to_item(CONFIRMED_AT, REGION)]
    current += [m.to_item(CONFIRMED_AT, REGION) for m in memberships]
    old = [retired(u.to_item(CONFIRMED_AT, REGION)) for u in users[100:]]
    old += [retired(items.Group(name="writers").to_item(CONFIRMED_AT, REGION))]
    manifest = items.Manifest(exported_at=CONFIRMED_AT).to_item(REGION)
    write(table, current + old + [manifest])
    found = list(table.legacy_items())
    assert len(found) == len(keys(found))
    # Retired users and groups, and the manifest (it has no shard key either); no membership.
    assert keys(found) == keys(old) | {(items.MANIFEST_ID, items.MANIFEST)}
    assert len(found) == 50 + 1 + 1


def test_scan_kind_returns_both_forms_of_a_kind(
    table: BackupTableHook, users: list[items.User], memberships: list[items.Membership]
) -> None:
    new_users = [u.to_item(CONFIRMED_AT, REGION) for u in users[:100]]
    old_users = [retired(u.to_item(CONFIRMED_AT, REGION)) for u in users[100:]]
    new_groups = [items.Group(name=f"group-{i}").to_item(CONFIRMED_AT, REGION) for i in range(3)]
    old_groups = [retired(items.Group(name=f"old-{i}").to_item(CONFIRMED_AT, REGION)) for i in range(2)]
    member_items = [m.to_item(CONFIRMED_AT, REGION) for m in memberships]
    manifest = items.Manifest(exported_at=CONFIRMED_AT).to_item(REGION)
    write(table, new_users + old_users + new_groups + old_groups + member_items + [manifest])
    expected = {
        items.USER: keys(new_users + old_users),
        items.GROUP: keys(new_groups + old_groups),
        items.MEMBERSHIP: keys(member_items),
    }
    assert [len(v) for v in expected.values()] == [150, 5, 150]
    for kind, wanted in expected.items():
        whole = list(table.scan_kind(kind))
        assert len(whole) == len(wanted) and keys(whole) == wanted, kind
        # Four segments together hold the same items, each once.
        segmented = [item for s in range(4) for item in table.scan_kind(kind, s, 4)]
        assert len(segmented) == len(wanted) and keys(segmented) == wanted, kind
