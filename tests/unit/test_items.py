"""The table item codec: our format and the retired solution's, both ways."""

from __future__ import annotations

from cognito_backup import items

SUB = "0f1e2d3c-4b5a-4978-8899-aabbccddeeff"
RAW_USER = {
    "Username": "5f2b0c1e-uuid-like",
    "Enabled": False,
    "UserStatus": "UNCONFIRMED",
    "Attributes": [
        {"Name": "sub", "Value": SUB},
        {"Name": "email", "Value": "zoë@example.com"},
        {"Name": "custom:note", "Value": 'a, "quoted" \\ value'},
    ],
}


def test_user_round_trips_and_keeps_the_reference_format():
    user = items.User.from_cognito(RAW_USER, ["email"])
    item = user.to_item(1700000000000, "us-east-1")
    assert item["id"] == f"USER-{SUB}" and item["type"] == "USER"
    assert item["pseudoUsername"] == "zoë@example.com" and item["username"] == "5f2b0c1e-uuid-like"
    assert item["userAttributes"] == RAW_USER["Attributes"]
    assert item["userEnabled"] is False and item["userStatus"] == "UNCONFIRMED"
    assert item["shardKey"] == "USER#0f"
    assert items.User.from_item(item) == user


def test_pseudo_username_is_the_username_without_username_attributes():
    assert items.User.from_cognito(RAW_USER, []).pseudo_username == "5f2b0c1e-uuid-like"


def test_digest_changes_with_content_only():
    user = items.User.from_cognito(RAW_USER, [])
    reordered = items.User.from_cognito({**RAW_USER, "Attributes": list(reversed(RAW_USER["Attributes"]))}, [])
    changed = items.User.from_cognito({**RAW_USER, "Enabled": True}, [])
    assert user.digest == reordered.digest != changed.digest


def test_digests_are_those_earlier_releases_stored():
    # Pinned from the release that made them with `json.dumps`: a changed digest would make the
    # first export after an upgrade rewrite every item.
    raw = {**RAW_USER, "Attributes": [*RAW_USER["Attributes"][:2],
                                      {"Name": "custom:note", "Value": 'a, "quoted" \\ value\n\t\x00\x1f\x7f\u2028\U0001F600 日本'}]}
    user = items.User.from_cognito(raw, ["email"])
    assert user.digest == "6bbe1e1708be03eca7efcaee48e02dee"
    assert user.digest == items.digest([user.username, user.pseudo_username, sorted(user.attributes), False,
                                        "UNCONFIRMED"])
    member = items.Membership.from_cognito("admins", raw, ["email"])
    assert member == items.Membership("admins", SUB, user.username, "zoë@example.com")
    assert member.digest == "6dcd9250d8f2b5d4bef91fd829b5fc90"
    group = items.Group.from_cognito({"GroupName": 'a\u00e9"', "Description": "d\n", "Precedence": 3,
                                      "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert group.digest == "b0d506a9cf2f6b0c9a37bcf56f50006c"


def test_both_type_forms_are_recognised():
    legacy = {"id": f"USER-{SUB}", "type": "USER-2d1c7e1a-0000-4000-8000-000000000000"}
    assert items.kind_of(legacy) == items.USER and items.is_legacy(legacy)
    assert items.kind_of({"id": "GROUP-x", "type": "GROUP-2d1c"}) == items.GROUP
    assert items.kind_of({"id": "latest-export-timestamp", "type": "SYNC_TIMESTAMP-2d1c"}) == items.MANIFEST
    member = {"id": "GROUP_MEMBER-admins", "type": f"GROUP_MEMBER-{SUB}", "groupUser": "bob"}
    assert items.kind_of(member) == items.MEMBERSHIP and not items.is_legacy(member)
    assert not items.is_legacy({"id": f"USER-{SUB}", "type": "USER"})
    assert items.Membership.from_item(member) == items.Membership("admins", SUB, "bob", "bob")


def test_group_defaults_match_the_reference_format():
    group = items.Group.from_cognito({"GroupName": "readers", "LastModifiedDate": "2025-01-01"})
    item = group.to_item(1, "eu-west-1")
    assert item["groupDescription"] == "" and item["groupPrecedence"] == -1 and "roleArn" not in item
    assert group.create_kwargs() == {"GroupName": "readers"}
    full = items.Group.from_cognito({"GroupName": "a", "Description": "d", "Precedence": 0,
                                     "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert full.create_kwargs() == {"GroupName": "a", "Description": "d", "Precedence": 0,
                                    "RoleArn": "arn:aws:iam::123456789012:role/r"}
    assert items.Group.from_item(full.to_item(1, "r")) == full


def test_dynamodb_json_of_every_item_kind_is_what_boto3_would_send():
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    user = items.User.from_cognito(RAW_USER, ["email"])
    group = items.Group("staff, eu", "Ops", 3, "arn:aws:iam::123456789012:role/r")
    member = items.Membership("staff, eu", SUB, user.username, user.pseudo_username)
    manifest = items.Manifest(exported_at=1, counts={"users_written": 3}, duration_seconds=1.25,
                              deletions_held_back={"users": 2})
    serializer = TypeSerializer()
    for item in (user.to_item(1, "us-east-1"), group.to_item(1, "us-east-1"), member.to_item(1, "us-east-1"),
                 manifest.to_item("us-east-1"), {"n": None, "f": Decimal("0.5"), "e": ""}):
        assert items.to_dynamodb(item) == {k: serializer.serialize(v) for k, v in item.items()}


def test_a_batch_write_sent_as_plain_json_is_the_request_botocore_would_make():
    import json

    import botocore.session
    from botocore.serialize import create_serializer

    from cognito_backup.hooks.plain_json import PlainJSONRequests

    operation = botocore.session.get_session().get_service_model("dynamodb").operation_model("BatchWriteItem")
    user = items.User.from_cognito(RAW_USER, ["email"])
    params = {"RequestItems": {"t": [{"PutRequest": {"Item": items.to_dynamodb(user.to_item(1, "us-east-1"))}},
                                     {"DeleteRequest": {"Key": items.to_dynamodb({"id": "USER-x", "type": "USER"})}}]}}
    botocores = create_serializer("json", True).serialize_to_request(params, operation)
    ours = PlainJSONRequests(create_serializer("json", False), frozenset({"BatchWriteItem"})).serialize_to_request(
        params, operation)
    assert json.loads(ours["body"]) == json.loads(botocores["body"])
    assert {k: v for k, v in ours.items() if k != "body"} == {k: v for k, v in botocores.items() if k != "body"}
