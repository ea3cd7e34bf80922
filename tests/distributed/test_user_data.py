"""After every run of the session: no username, email, phone number or sub of any pool in the
Airflow logs (tasks and components), the metadata database (XCom, task instances, run conf,
Celery's results: all of it) or the SNS notifications."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from deployment import FOLDER, REGION, Deployment

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EMAIL = re.compile(r"[\w.+-]+@[\w.-]+")
WORD = re.compile(r"[\w.+]+")


def user_data() -> set[str]:
    """What identifies a user, in every pool the emulator holds (sources and restored pools)."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    found = set()
    for pools in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in pools["UserPools"]:
            for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool["Id"]):
                for user in page["Users"]:
                    found.add(user["Username"])
                    found.update(a["Value"] for a in user["Attributes"]
                                 if a["Name"] in ("email", "sub", "phone_number", "custom:legacy_sub"))
    return found


def leaked(secrets: set[str], text: str) -> set[str]:
    """The values of `secrets` that occur in `text`. Tokens of the shapes these values take are
    matched by lookup; values of any other shape (a username with a comma), by search."""
    tokens = set(UUID.findall(text)) | set(EMAIL.findall(text)) | set(WORD.findall(text))
    shaped = {s for s in secrets if UUID.fullmatch(s) or EMAIL.fullmatch(s) or WORD.fullmatch(s)}
    return (shaped & tokens) | {s for s in secrets - shaped if s in text}


def notifications(queue: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"])["Message"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.after_dag_runs
def test_no_user_data_in_logs_metadata_database_or_notifications(deployment: Deployment):
    d = deployment
    status, runs = d.stack.api("GET", "/api/v2/dags/~/dagRuns?limit=1")
    if status != 200 or runs["total_entries"] == 0:
        pytest.skip("no DAG run in this session: nothing to scan")
    secrets = user_data()
    assert len(secrets) > 10_000
    task_logs = list((d.stack.home / "logs").rglob("*.log"))
    assert len(task_logs) > 50  # every try of every task of the session's runs
    sources = {str(path.relative_to(FOLDER)): path.read_text(errors="replace")
               for path in (*task_logs, *d.stack.home.glob("*.log"), d.postgres.folder / "postgres.log")}
    sources["metadata database (pg_dump)"] = d.postgres.dump()
    sources["SNS notifications"] = "\n".join(notifications(d.queue))
    assert "cognito_export_kill" in sources["SNS notifications"]  # the runs' notifications were read
    found = {name: len(leaked(secrets, text)) for name, text in sources.items()}
    assert not {name: count for name, count in found.items() if count}
