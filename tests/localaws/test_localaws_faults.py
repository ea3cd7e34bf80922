"""Injected faults: from --faults SPEC and from JSON rules (match / after / count), each kind
seen by boto3 as it would be seen from AWS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from localaws.faults import parse_spec
from localaws.testing import Emulator

REGION = "us-east-1"
NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}
ONE_RETRY = {"mode": "standard", "total_max_attempts": 2}


def create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def error_code(call: Any) -> str | None:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None


def test_faults_from_the_command_line() -> None:
    spec = "ListUsers=throttle:1.0,CreateGroup=internal:1,PutItem=drop:0.5:when=after:count=3,GetItem=delay:0.1,*=drop:0.01"
    with Emulator.start(faults=spec) as emulator:
        cognito = emulator.client("cognito-idp", REGION, retries=NO_RETRIES)
        # The calls not under test retry: the catch-all rule drops 1% of every call's attempts.
        steady = emulator.client("cognito-idp", REGION, retries={"mode": "standard", "total_max_attempts": 5})
        pool_id = steady.create_user_pool(PoolName="faulty")["UserPool"]["Id"]
        with pytest.raises(ClientError) as error:
            cognito.list_users(UserPoolId=pool_id)
        assert error.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400  # Cognito throttles with 400, not 429
        with pytest.raises(ClientError) as error:
            cognito.create_group(UserPoolId=pool_id, GroupName="admins")
        assert error.value.response["Error"]["Code"] == "InternalErrorException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        # Faults come before the backend: the group was never created.
        assert steady.list_groups(UserPoolId=pool_id)["Groups"] == []
        rules = emulator.faults()
        assert [(rule["operation"], rule["kind"], rule["fraction"]) for rule in rules] == [
            ("ListUsers", "throttle", 1.0), ("CreateGroup", "internal", 1.0), ("PutItem", "drop", 0.5),
            ("GetItem", "delay", 0.1), ("*", "drop", 0.01),
        ]  # fmt: skip
        assert (rules[2]["when"], rules[2]["count"], rules[3]["seconds"], rules[4]["when"]) == ("after", 3, 2.0, "before")
        records = [record for record in emulator.requests() if record["operation"] == "CreateGroup"]
        assert [(record["outcome"], record["fault"]) for record in records] == [("fault", "internal")]


def test_match_after_and_count(aws: Emulator) -> None:
    pool_id = aws.seed(REGION, users=50, groups=0)
    cognito = aws.client("cognito-idp", REGION, retries=NO_RETRIES)
    aws.set_faults([{"operation": "ListUsers", "kind": "internal", "match": 'sub ^= "a"', "after": 1, "count": 2}])

    def shard(digit: str) -> str | None:
        return error_code(lambda: cognito.list_users(UserPoolId=pool_id, Filter=f'sub ^= "{digit}"'))

    assert shard("b") is None  # does not match
    assert shard("a") is None  # first matching call: let through ("after": 1)
    assert [shard("a"), shard("a")] == ["InternalErrorException"] * 2
    assert shard("a") is None  # "count": 2 used up
    assert aws.faults()[0] == {
        "operation": "ListUsers",
        "kind": "internal",
        "fraction": 1.0,
        "service": None,
        "match": 'sub ^= "a"',
        "after": 1,
        "count": 2,
        "seen": 4,
        "injected": 2,
    }


def test_fraction_fails_some_calls(aws: Emulator) -> None:
    aws.set_faults([{"operation": "*", "kind": "throttle", "fraction": 0.5, "service": "cognito-idp"}])
    cognito = aws.client("cognito-idp", REGION, retries=NO_RETRIES)
    codes = [error_code(lambda: cognito.list_user_pools(MaxResults=1)) for _ in range(200)]
    assert 40 < codes.count("TooManyRequestsException") < 160
    assert set(codes) == {None, "TooManyRequestsException"}
    assert aws.client("dynamodb", REGION, retries=NO_RETRIES).list_tables()["TableNames"] == []  # other services untouched


def test_dynamodb_faults_use_dynamodbs_error_codes(aws: Emulator, dynamodb: Any) -> None:
    create_table(dynamodb)
    aws.set_faults([{"operation": "PutItem", "kind": "internal"}, {"operation": "Query", "kind": "throttle"}])
    with pytest.raises(ClientError) as error:
        dynamodb.put_item(TableName="t", Item={"id": {"S": "x"}})
    assert error.value.response["Error"]["Code"] == "InternalServerError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert dynamodb.scan(TableName="t")["Items"] == []

    def query() -> Any:
        return dynamodb.query(TableName="t", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "x"}})

    with pytest.raises(ClientError) as error:
        query()
    assert error.value.response["Error"]["Code"] == "ThrottlingException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_dropped_before_the_backend_the_call_never_happened(aws: Emulator, cognito: Any) -> None:
    pool_id = cognito.create_user_pool(PoolName="dropping")["UserPool"]["Id"]
    aws.set_faults([{"operation": "CreateGroup", "kind": "drop", "match": "admins", "after": 1, "count": 1}])
    cognito.create_group(UserPoolId=pool_id, GroupName="admins-1")  # "after": 1 lets the first through
    mark = aws.mark()
    with pytest.raises(ConnectionClosedError):
        cognito.create_group(UserPoolId=pool_id, GroupName="admins-2")
    cognito.create_group(UserPoolId=pool_id, GroupName="readers")  # does not match
    cognito.create_group(UserPoolId=pool_id, GroupName="admins-3")  # "count": 1 used up
    assert sorted(group["GroupName"] for group in cognito.list_groups(UserPoolId=pool_id)["Groups"]) == ["admins-1", "admins-3", "readers"]
    dropped = aws.requests(since=mark)[0]
    assert (dropped["outcome"], dropped["status"], dropped["fault"]) == ("fault", None, "drop")
    assert "backend" not in dropped


def test_dropped_after_the_backend_the_call_happened_though_the_client_saw_an_error(aws: Emulator, cognito: Any, dynamodb: Any) -> None:
    create_table(dynamodb)
    pool_id = cognito.create_user_pool(PoolName="dropping")["UserPool"]["Id"]
    aws.set_faults([{"operation": "*", "kind": "drop", "when": "after", "service": "dynamodb", "count": 1}])
    mark = aws.mark()
    with pytest.raises(ConnectionClosedError):
        dynamodb.put_item(TableName="t", Item={"id": {"S": "x"}})
    assert dynamodb.get_item(TableName="t", Key={"id": {"S": "x"}})["Item"] == {"id": {"S": "x"}}
    dropped = aws.requests(since=mark)[0]
    assert (dropped["outcome"], dropped["status"], dropped["fault"], dropped["backend"]) == ("fault", None, "drop", "ok")
    assert (dropped["wcu"], dropped["writes"]) == (1, [["x"]])

    # The nastiest case for idempotency: a retry of a create meets what its first attempt made.
    aws.set_faults([{"operation": "CreateGroup", "kind": "drop", "when": "after", "count": 1}])
    with pytest.raises(ConnectionClosedError):
        cognito.create_group(UserPoolId=pool_id, GroupName="admins")
    assert error_code(lambda: cognito.create_group(UserPoolId=pool_id, GroupName="admins")) == "GroupExistsException"


def test_delay_answers_normally_but_later(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=3, groups=0)
    aws.set_faults([{"operation": "ListUsers", "kind": "delay", "seconds": 0.6, "fraction": 1.0}])
    mark = aws.mark()
    started = time.monotonic()
    assert len(cognito.list_users(UserPoolId=pool_id)["Users"]) == 3
    assert time.monotonic() - started >= 0.6
    record = aws.requests(since=mark)[0]
    assert (record["outcome"], record["status"], record["fault"]) == ("ok", 200, "delay")
    assert record["duration"] >= 0.6
    aws.set_faults([{"operation": "ListUsers", "kind": "delay"}])
    assert aws.faults()[0]["seconds"] == 2.0  # the default spike


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "throttle"},
        {"kind": "internal"},
        {"kind": "drop"},
        {"kind": "drop", "when": "after"},
    ],
    ids=["throttle", "internal", "drop-before", "drop-after"],
)
def test_standard_retries_get_through(aws: Emulator, rule: dict[str, Any]) -> None:
    dynamodb = aws.client("dynamodb", REGION, retries=ONE_RETRY)
    create_table(dynamodb)
    aws.set_faults([{"operation": "PutItem", "count": 1, **rule}])
    mark = aws.mark()
    dynamodb.put_item(TableName="t", Item={"id": {"S": "x"}})
    assert dynamodb.scan(TableName="t")["Items"] == [{"id": {"S": "x"}}]
    attempts = [record for record in aws.requests(since=mark) if record["operation"] == "PutItem"]
    assert [(record["outcome"], record.get("fault")) for record in attempts] == [("fault", rule["kind"]), ("ok", None)]


def test_bad_rules_are_refused(aws: Emulator) -> None:
    for rules in (
        [{"operation": "ListUsers", "kind": "explode"}],
        [{"kind": "throttle"}],
        [{"operation": "X", "kind": "throttle", "when": 1}],
        [{"operation": "X", "kind": "drop", "when": "later"}],
        [{"operation": "X", "kind": "internal", "seconds": 1}],
        [{"operation": "X", "kind": "delay", "seconds": -1}],
        {"not": "a list"},
    ):
        with pytest.raises(RuntimeError, match="HTTP 400"):
            aws.set_faults(rules)  # type: ignore[arg-type]
    assert aws.faults() == []
    for spec in ("ListUsers=drop:0.5:0.6", "ListUsers=drop:0.5:after=x", "ListUsers=delay:1:wait=3", "=drop"):
        with pytest.raises(ValueError):
            parse_spec(spec)
