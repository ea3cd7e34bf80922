"""The import's parts on their own: CSV lines and files, the import-job trigger and the deferral."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path

import boto3
import pytest
import requests

from cognito_backup import items
from cognito_backup.restore import csv_file
from cognito_backup.restore.csv_job import ImportCsvPartOperator
from cognito_backup.restore.triggers.import_job import UserImportJobCompleteTrigger
from cognito_backup.triggers.base import async_client_installed
from import_runs import REGION, ROLE_ARN

HEADER = [*csv_file.STANDARD_COLUMNS, "custom:department", "custom:legacy_sub", "cognito:mfa_enabled", "cognito:username"]
SUB = "0f8fad5b-d9cb-469f-a165-70867728950e"


def user(status: str = "CONFIRMED", username: str = "zoë", **attrs: str) -> items.User:
    values = {"sub": SUB, "email": "zoe@example.com", "email_verified": "true", **attrs}
    return items.User(SUB, username, username, tuple(values.items()), True, status)


def cells(line: str) -> dict[str, str]:
    """Split a line as Cognito does: on commas not escaped with a backslash."""
    import re

    values = [c.replace("\\,", ",") for c in re.split(r"(?<!\\),", line.rstrip("\n"))]
    assert len(values) == len(HEADER)
    return dict(zip(HEADER, values))


def test_a_line_carries_every_value_unquoted_with_commas_escaped():
    rules = csv_file.CsvRules(HEADER, ["email"], "custom:legacy_sub")
    u = user(family_name='Müller, Jr.', name='Brown "Bear"', **{"custom:department": "R&D, Europe"})
    assert rules.problem(u) is None
    line = rules.line(u)
    assert "Müller\\, Jr." in line and '"Bear"' in line and not line.startswith('"')
    row = cells(line)
    assert row["family_name"] == "Müller, Jr." and row["custom:department"] == "R&D, Europe"
    assert row["cognito:username"] == "zoë" and row["cognito:mfa_enabled"] == "false"
    assert row["custom:legacy_sub"] == SUB  # the old sub, for apps keyed on it
    assert row["email_verified"] == "true" and row["phone_number"] == ""
    assert rules.header_line == ",".join(HEADER) + "\n"


def test_an_earlier_restores_legacy_sub_is_kept():
    rules = csv_file.CsvRules(HEADER, ["email"], "custom:legacy_sub")
    assert cells(rules.line(user(**{"custom:legacy_sub": "first-sub"})))["custom:legacy_sub"] == "first-sub"


@pytest.mark.parametrize("u, reason", [
    (user(status="UNCONFIRMED"), csv_file.UNCONFIRMED),
    (user(email_verified="false"), csv_file.NOT_AUTO_VERIFIED),
    (user(name="two\nlines"), csv_file.NEWLINE),
    (user(name="back\\, comma"), csv_file.BACKSLASH_COMMA),
    (user(name="ends with \\"), csv_file.BACKSLASH_END),
    (user(**{"custom:unknown": "x"}), csv_file.NOT_IN_HEADER),
    (user(email_verified="yes"), csv_file.BAD_FLAG),
    (user(name=""), csv_file.EMPTY_VALUE),
])
def test_users_a_csv_cannot_carry_are_left_out_with_the_reason(u, reason):
    assert csv_file.CsvRules(HEADER, ["email"]).problem(u) == reason


def test_a_verified_phone_is_enough_when_the_pool_verifies_phones():
    u = user(email_verified="false", phone_number="+15550100", phone_number_verified="true")
    assert csv_file.CsvRules(HEADER, ["email"]).problem(u) == csv_file.NOT_AUTO_VERIFIED
    assert csv_file.CsvRules(HEADER, ["email", "phone_number"]).problem(u) is None
    assert csv_file.CsvRules(HEADER, []).problem(user(email_verified="false")) is None


def test_files_stay_within_cognitos_limits():
    stats = {0: (3, 300), 1: (3, 300), 7: (2, 200), 4095: (1, 100)}
    assert csv_file.pack_parts(stats, 50) == [[0, 4095]]
    assert csv_file.pack_parts(stats, 50, max_users=6) == [[0, 6], [7, 4095]]
    assert csv_file.pack_parts(stats, 50, max_bytes=600) == [[0, 0], [1, 4094], [4095, 4095]]
    with pytest.raises(ValueError):
        csv_file.pack_parts({5: (10, 10)}, 50, max_users=9)


def test_a_file_is_utf8_without_bom_and_refuses_to_grow_past_the_limits(monkeypatch):
    rules = csv_file.CsvRules(HEADER, ["email"])
    with csv_file.CsvFile(rules) as out:
        out.add(user())
        out.close()
        data = Path(out.path).read_bytes()
        assert data.startswith(b"name,given_name") and data.decode("utf-8").count("\n") == 2
    assert not Path(out.path).exists()
    monkeypatch.setattr(csv_file, "MAX_USERS_PER_FILE", 1)
    with csv_file.CsvFile(rules) as out, pytest.raises(csv_file.CsvFileTooLarge):
        out.add(user())
        out.add(user())


def started_job(emulator, start: str = "") -> tuple[str, str]:
    """A real (emulated) import job of a CSV file of `start` and the header, started: (pool id, job id)."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool_id = emulator.seed(REGION, users=0, groups=0)
    job = cognito.create_user_import_job(UserPoolId=pool_id, JobName="j", CloudWatchLogsRoleArn=ROLE_ARN)["UserImportJob"]
    header = ",".join(cognito.get_csv_header(UserPoolId=pool_id)["CSVHeader"]) + "\n"
    assert requests.put(job["PreSignedUrl"], data=(start + header).encode(),
                        headers={"x-amz-server-side-encryption": "aws:kms"}).status_code == 200
    cognito.start_user_import_job(UserPoolId=pool_id, JobId=job["JobId"])
    return pool_id, job["JobId"]


def test_the_trigger_is_serialized_with_its_job():
    trigger = UserImportJobCompleteTrigger(user_pool_id="us-east-1_abc", job_id="import-1", waiter_delay=5,
                                           region_name=REGION)
    classpath, kwargs = trigger.serialize()
    assert classpath == "cognito_backup.restore.triggers.import_job.UserImportJobCompleteTrigger"
    assert UserImportJobCompleteTrigger(**kwargs).waiter_args == {"UserPoolId": "us-east-1_abc", "JobId": "import-1"}


# A byte order mark fails the whole file, so the job ends Failed.
@pytest.mark.parametrize("start, succeeds", [("", True), ("\ufeff", False)], ids=["succeeded", "failed"])
def test_the_trigger_reports_the_end_of_a_real_job(emulator, start, succeeds):
    """The trigger as the triggerer runs it, polling a real (emulated) job: with the provider's async
    client where installed (MWAA installs it: `make test-compat`), else with the synchronous one in
    a thread per poll (every setup this project ships: `make test`)."""
    from airflow.exceptions import AirflowException

    pool_id, job_id = started_job(emulator, start)
    trigger = UserImportJobCompleteTrigger(user_pool_id=pool_id, job_id=job_id, waiter_delay=1,
                                           waiter_max_attempts=30, region_name=REGION)

    async def first_event():
        async for event in trigger.run():
            return event

    try:
        payload = asyncio.run(first_event()).payload
    except AirflowException as error:  # the async path of older providers (9.8, 9.12) raises the failure
        assert async_client_installed()
        payload = {"status": "error", "message": str(error)}
    status = boto3.client("cognito-idp", region_name=REGION).describe_user_import_job(
        UserPoolId=pool_id, JobId=job_id)["UserImportJob"]["Status"]
    if succeeds:
        assert payload == {"status": "success", "job_id": job_id} and status == "Succeeded"
    else:
        assert payload["status"] == "error" and "did not succeed" in payload["message"] and status == "Failed"


def part_operator(**kwargs) -> ImportCsvPartOperator:
    return ImportCsvPartOperator(
        task_id="csv_job", part=[0, 4095], table_name="t", region_name=REGION, cognito_tps=50,
        target={"user_pool_id": "us-east-1_abc"}, **kwargs,
    )


def test_the_job_wait_defers():
    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow 2.x and 3.0
        from airflow.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        part_operator(waiter_delay=10)._wait({}, None, "import-7", then="execute_complete")
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, UserImportJobCompleteTrigger)
    assert trigger.waiter_args == {"UserPoolId": "us-east-1_abc", "JobId": "import-7"} and trigger.waiter_delay == 10


def test_the_jobs_end_becomes_counts_or_an_error():
    op = part_operator()
    job = {"JobId": "import-7", "Status": "Succeeded", "ImportedUsers": 40, "FailedUsers": 2, "SkippedUsers": 0}
    assert op._finish(job) == {"job_id": "import-7", "lines": 42, "imported": 40, "failed": 2,
                               "skipped": 0, "clean": False}
    assert op._finish({**job, "ImportedUsers": 42, "FailedUsers": 0})["clean"] is True
    with pytest.raises(RuntimeError, match=r"import job import-7 did not succeed \(Failed\)"):
        op._finish({**job, "Status": "Failed"})


def test_execute_complete_reads_the_finished_job(emulator, monkeypatch):
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool_id = emulator.seed(REGION, users=0, groups=0)
    job = cognito.create_user_import_job(UserPoolId=pool_id, JobName="j", CloudWatchLogsRoleArn=ROLE_ARN)["UserImportJob"]
    op = part_operator()
    op.target = {"user_pool_id": pool_id}
    monkeypatch.setattr(op, "cognito_hook", lambda context, shared=True: _Hook(cognito))
    with pytest.raises(RuntimeError, match=r"did not succeed \(Created\)"):
        op.execute_complete({}, {"status": "success", "job_id": job["JobId"]})


class _Hook(types.SimpleNamespace):
    def __init__(self, client):
        super().__init__(client=client)

    def describe_user_import_job(self, pool_id, job_id):
        return self.client.describe_user_import_job(UserPoolId=pool_id, JobId=job_id)["UserImportJob"]
