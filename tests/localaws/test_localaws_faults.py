"""Injected faults: from --faults SPEC and from JSON rules (match / after / count)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.testing import Emulator

REGION = "us-east-1"
NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}


def error_code(call: Any) -> str | None:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None


def test_faults_from_the_command_line() -> None:
    with Emulator.start(faults="ListUsers=throttle:1.0,CreateGroup=internal:1") as emulator:
        cognito = emulator.client("cognito-idp", REGION, retries=NO_RETRIES)
        pool_id = cognito.create_user_pool(PoolName="faulty")["UserPool"]["Id"]
        assert error_code(lambda: cognito.list_users(UserPoolId=pool_id)) == "TooManyRequestsException"
        with pytest.raises(ClientError) as error:
            cognito.create_group(UserPoolId=pool_id, GroupName="admins")
        assert error.value.response["Error"]["Code"] == "InternalErrorException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        # Faults come before the backend: the group was never created.
        assert cognito.list_groups(UserPoolId=pool_id)["Groups"] == []
        assert [rule["operation"] for rule in emulator.faults()] == ["ListUsers", "CreateGroup"]
        assert [record["outcome"] for record in emulator.requests() if record["operation"] == "CreateGroup"] == ["fault"]


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
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws.set_faults([{"operation": "PutItem", "kind": "internal"}, {"operation": "Query", "kind": "throttle"}])
    assert error_code(lambda: dynamodb.put_item(TableName="t", Item={"id": {"S": "x"}})) == "InternalServerError"
    assert dynamodb.scan(TableName="t")["Items"] == []

    def query() -> Any:
        return dynamodb.query(TableName="t", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "x"}})

    assert error_code(query) == "ThrottlingException"


def test_bad_rules_are_refused(aws: Emulator) -> None:
    for rules in ([{"operation": "ListUsers", "kind": "explode"}], [{"kind": "throttle"}], [{"operation": "X", "kind": "throttle", "when": 1}], {"not": "a list"}):
        with pytest.raises(RuntimeError, match="HTTP 400"):
            aws.set_faults(rules)  # type: ignore[arg-type]
    assert aws.faults() == []
