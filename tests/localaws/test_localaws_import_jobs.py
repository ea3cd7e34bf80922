"""Cognito user import jobs: header, pre-signed upload, CSV rules, lifecycle."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.testing import Emulator

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/CognitoImportRole"
HEADER = [
    "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture",
    "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
    "phone_number_verified", "address", "updated_at",
    "custom:department", "custom:employee_id", "custom:nickname_note",
    "cognito:mfa_enabled", "cognito:username",
]  # fmt: skip
FINAL = ("Succeeded", "Failed", "Stopped")


def csv_bytes(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    lines = [",".join(header)] + [",".join(row.get(column, "").replace(",", "\\,") for column in header) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def user_row(username: str, **values: str) -> dict[str, str]:
    return {"cognito:username": username, "cognito:mfa_enabled": "false", "email": f"{username}@example.com", "email_verified": "true", **values}


def put(url: str, data: bytes, encryption: str | None = "aws:kms") -> int:
    headers = {"x-amz-server-side-encryption": encryption} if encryption else {}
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def create_job(cognito: Any, pool_id: str, name: str = "restore") -> dict[str, Any]:
    return cognito.create_user_import_job(JobName=name, UserPoolId=pool_id, CloudWatchLogsRoleArn=ROLE)["UserImportJob"]


def follow(cognito: Any, pool_id: str, job_id: str, timeout: float = 30) -> tuple[list[str], dict[str, Any]]:
    """Poll until the job ends: the statuses seen, in order, and the final job."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = cognito.describe_user_import_job(UserPoolId=pool_id, JobId=job_id)["UserImportJob"]
        if not seen or seen[-1] != job["Status"]:
            seen.append(job["Status"])
        if job["Status"] in FINAL:
            return seen, job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {timeout} s")


def run_import(cognito: Any, pool_id: str, data: bytes) -> dict[str, Any]:
    job = create_job(cognito, pool_id)
    assert put(job["PreSignedUrl"], data) == 200
    cognito.start_user_import_job(UserPoolId=pool_id, JobId=job["JobId"])
    return follow(cognito, pool_id, job["JobId"])[1]


@pytest.fixture
def pool(aws: Emulator) -> str:
    return aws.seed(REGION, users=5, groups=1)


def attrs(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


def test_csv_header_is_cognitos(cognito: Any, pool: str) -> None:
    reply = cognito.get_csv_header(UserPoolId=pool)
    assert reply["UserPoolId"] == pool
    assert reply["CSVHeader"] == HEADER


def test_create_job_shape_and_upload_url(cognito: Any, pool: str, aws: Emulator) -> None:
    job = create_job(cognito, pool, "nightly-restore")
    assert job["Status"] == "Created"
    assert job["JobId"].startswith("import-")
    assert job["JobName"] == "nightly-restore"
    assert job["UserPoolId"] == pool
    assert job["CloudWatchLogsRoleArn"] == ROLE
    assert (job["ImportedUsers"], job["SkippedUsers"], job["FailedUsers"]) == (0, 0, 0)
    assert job["PreSignedUrl"].startswith(aws.endpoint + "/")
    assert "X-Amz-Signature=" in job["PreSignedUrl"]
    assert "StartDate" not in job and "CompletionDate" not in job


def test_upload_needs_kms_header_and_the_signature(cognito: Any, pool: str) -> None:
    job = create_job(cognito, pool)
    data = csv_bytes([user_row("alice")])
    assert put(job["PreSignedUrl"], data, encryption=None) == 403
    assert put(job["PreSignedUrl"], data, encryption="AES256") == 403
    assert put(job["PreSignedUrl"].replace("X-Amz-Signature=", "X-Amz-Signature=0"), data) == 403
    assert put(job["PreSignedUrl"], data) == 200
    cognito.start_user_import_job(UserPoolId=pool, JobId=job["JobId"])
    assert put(job["PreSignedUrl"], data) == 403  # too late once started


def test_import_creates_users_and_reports_each_bad_line(aws: Emulator, cognito: Any, pool: str) -> None:
    cognito.admin_create_user(UserPoolId=pool, Username="existing", MessageAction="SUPPRESS")
    note = 'says "hi", then \\ leaves, ok'
    rows = [
        user_row("alice", given_name="Zoë", family_name="Müller, Jr.", name="Zoë Müller, Jr.", **{"custom:nickname_note": note}),
        user_row("bad-mfa", **{"cognito:mfa_enabled": "yes"}),
        user_row("unverified", email_verified="false"),
        user_row("alice"),
        user_row("existing"),
        user_row("bad-verified", email_verified="maybe"),
        user_row("bad-number", **{"custom:employee_id": "12a"}),
        user_row("山田", phone_number="+15550100", phone_number_verified="true", **{"cognito:mfa_enabled": "true", "custom:department": "R&D, Europe"}),
    ]
    data = csv_bytes(rows) + b"too,few,columns\n"
    job = run_import(cognito, pool, data)

    assert job["Status"] == "Succeeded"
    assert (job["ImportedUsers"], job["FailedUsers"], job["SkippedUsers"]) == (2, 7, 0)
    assert job["StartDate"] <= job["CompletionDate"]
    failures = {failure["line"]: failure for failure in aws.import_job(job["JobId"])["Failures"]}
    assert sorted(failures) == [3, 4, 5, 6, 7, 8, 10]
    assert "cognito:mfa_enabled" in failures[3]["reason"]
    assert "does not set any of the auto verified attributes" in failures[4]["reason"]
    assert failures[5]["username"] == "alice" and "more than once" in failures[5]["reason"]
    assert "already exists" in failures[6]["reason"]
    assert "email_verified" in failures[7]["reason"]
    assert "custom:employee_id" in failures[8]["reason"]
    assert "columns" in failures[10]["reason"]

    alice = cognito.admin_get_user(UserPoolId=pool, Username="alice")
    assert alice["UserStatus"] == "RESET_REQUIRED"
    assert alice["Enabled"] is True
    values = attrs(alice)
    uuid.UUID(values.pop("sub"))
    assert values == {
        "email": "alice@example.com",
        "email_verified": "true",
        "given_name": "Zoë",
        "family_name": "Müller, Jr.",
        "name": "Zoë Müller, Jr.",
        "custom:nickname_note": note,
    }
    yamada = attrs(cognito.admin_get_user(UserPoolId=pool, Username="山田"))
    assert yamada["custom:department"] == "R&D, Europe"
    assert "middle_name" not in yamada  # empty cells are absent attributes


def test_file_level_problems_fail_the_job(cognito: Any, pool: str) -> None:
    good = csv_bytes([user_row("alice")])
    reordered = csv_bytes([user_row("alice")], header=HEADER[1:] + HEADER[:1])
    missing = csv_bytes([user_row("alice")], header=[column for column in HEADER if column != "custom:department"])
    for data, message in (
        (b"\xef\xbb\xbf" + good, "BOM"),
        (reordered, "does not match"),
        (missing, "missing columns: custom:department"),
        (b"\xff\xfe" + good, "UTF-8"),
    ):
        job = run_import(cognito, pool, data)
        assert job["Status"] == "Failed", message
        assert message in job["CompletionMessage"]
        assert job["ImportedUsers"] == 0
    not_uploaded = create_job(cognito, pool)
    cognito.start_user_import_job(UserPoolId=pool, JobId=not_uploaded["JobId"])
    assert follow(cognito, pool, not_uploaded["JobId"])[1]["Status"] == "Failed"


def test_more_than_500000_users_fail_the_job(cognito: Any, pool: str) -> None:
    line = ",".join("true" if column == "email_verified" else "false" if column == "cognito:mfa_enabled" else "" for column in HEADER[:-1])
    data = "\n".join([",".join(HEADER)] + [f"{line},u{index}" for index in range(500_001)]).encode()
    job = run_import(cognito, pool, data)
    assert job["Status"] == "Failed"
    assert "500000" in job["CompletionMessage"]


def test_job_moves_through_pending_and_in_progress_at_the_import_rate(aws: Emulator, cognito: Any, pool: str) -> None:
    aws.set_config(import_rate=200)
    job = create_job(cognito, pool)
    assert put(job["PreSignedUrl"], csv_bytes([user_row(f"user-{index}") for index in range(400)])) == 200
    began = time.monotonic()
    started = cognito.start_user_import_job(UserPoolId=pool, JobId=job["JobId"])["UserImportJob"]
    assert started["Status"] == "Pending"
    seen, final = follow(cognito, pool, job["JobId"])
    assert seen == ["Pending", "InProgress", "Succeeded"]
    assert final["ImportedUsers"] == 400
    assert time.monotonic() - began >= 2  # 400 users at 200 per second


def test_stop_job(aws: Emulator, cognito: Any, pool: str) -> None:
    aws.set_config(import_rate=100)
    job = create_job(cognito, pool)
    put(job["PreSignedUrl"], csv_bytes([user_row(f"user-{index}") for index in range(500)]))
    cognito.start_user_import_job(UserPoolId=pool, JobId=job["JobId"])
    while cognito.describe_user_import_job(UserPoolId=pool, JobId=job["JobId"])["UserImportJob"]["ImportedUsers"] == 0:
        time.sleep(0.05)
    stopping = cognito.stop_user_import_job(UserPoolId=pool, JobId=job["JobId"])["UserImportJob"]
    assert stopping["Status"] == "Stopping"
    seen, final = follow(cognito, pool, job["JobId"])
    assert seen[-1] == "Stopped"
    assert 0 < final["ImportedUsers"] < 500
    assert final["ImportedUsers"] + final["SkippedUsers"] == 500
    with pytest.raises(ClientError) as error:
        cognito.stop_user_import_job(UserPoolId=pool, JobId=job["JobId"])
    assert error.value.response["Error"]["Code"] == "PreconditionNotMetException"


def test_email_username_pool_imports_by_email(aws: Emulator, cognito: Any) -> None:
    pool_id = aws.seed(REGION, users=3, groups=0, username_attribute="email")
    taken = cognito.list_users(UserPoolId=pool_id, Limit=1)["Users"][0]
    taken_email = {a["Name"]: a["Value"] for a in taken["Attributes"]}["email"]
    rows = [
        {"cognito:username": "new.person@example.com", "cognito:mfa_enabled": "false", "email_verified": "true"},
        {"cognito:username": taken_email, "cognito:mfa_enabled": "false", "email_verified": "true"},
        {"cognito:username": "not-an-email", "cognito:mfa_enabled": "false", "email_verified": "true"},
    ]
    job = run_import(cognito, pool_id, csv_bytes(rows))
    assert (job["ImportedUsers"], job["FailedUsers"]) == (1, 2)
    user = cognito.admin_get_user(UserPoolId=pool_id, Username="new.person@example.com")
    assert user["Username"] == attrs(user)["sub"]
    assert attrs(user)["email"] == "new.person@example.com"


def test_list_describe_and_errors(cognito: Any, pool: str) -> None:
    ids = [create_job(cognito, pool, f"job-{index}")["JobId"] for index in range(3)]
    first = cognito.list_user_import_jobs(UserPoolId=pool, MaxResults=2)
    second = cognito.list_user_import_jobs(UserPoolId=pool, MaxResults=2, PaginationToken=first["PaginationToken"])
    assert [job["JobId"] for job in first["UserImportJobs"] + second["UserImportJobs"]] == ids
    assert "PaginationToken" not in second

    codes = []
    for call in (
        lambda: cognito.describe_user_import_job(UserPoolId=pool, JobId="import-nope"),
        lambda: cognito.create_user_import_job(JobName="x", UserPoolId="us-east-1_nope", CloudWatchLogsRoleArn=ROLE),
        lambda: cognito.create_user_import_job(JobName="x", UserPoolId=pool, CloudWatchLogsRoleArn="role/CognitoImportRole-not-an-arn"),
    ):
        with pytest.raises(ClientError) as error:
            call()
        codes.append(error.value.response["Error"]["Code"])
    assert codes == ["ResourceNotFoundException", "ResourceNotFoundException", "InvalidParameterException"]

    cognito.start_user_import_job(UserPoolId=pool, JobId=ids[0])
    with pytest.raises(ClientError) as error:
        cognito.start_user_import_job(UserPoolId=pool, JobId=ids[0])
    assert error.value.response["Error"]["Code"] == "PreconditionNotMetException"
