"""The deferrable operator that imports one CSV file of users with a Cognito user import job."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import requests
from botocore.exceptions import ClientError

from cognito_backup import items
from cognito_backup.restore import csv_file
from cognito_backup.restore.admin_users import CognitoCallError
from cognito_backup.restore.operators import _RestoreOperator
from cognito_backup.restore.parallel import scan_parallel
from cognito_backup.restore.report import summary
from cognito_backup.restore.triggers.import_job import UserImportJobCompleteTrigger
from cognito_backup.restore.verify import Comparison

if TYPE_CHECKING:
    from airflow.sdk import Context

JOB_RUNNING = ("Pending", "InProgress", "Stopping")


class ImportCsvPartOperator(_RestoreOperator):
    """Import one CSV file of users with a Cognito user import job.

    Waits first for any import job still running in the pool (Cognito runs one at a time). Then
    builds the file (users of buckets ``part``, less those the target already holds), creates a
    job, PUTs the file to its pre-signed URL with ``x-amz-server-side-encryption: aws:kms``,
    starts it and waits: deferred to :class:`UserImportJobCompleteTrigger` (no worker slot held,
    with or without the async AWS client), or, when not ``deferrable``, polling here.

    :param part: ``[first bucket, last bucket]`` from the plan.
    :param cloudwatch_logs_role_arn: the role the job writes CloudWatch logs with.
    :param deferrable: wait in the triggerer.
    :param waiter_delay: seconds between polls (polling starts at 1 s and doubles up to this).
    :param waiter_max_attempts: polls before giving up, in the triggerer.
    """

    template_fields: Sequence[str] = (*_RestoreOperator.template_fields, "part", "cloudwatch_logs_role_arn")

    def __init__(self, *, part: Any, cloudwatch_logs_role_arn: str = "", deferrable: bool = True,
                 waiter_delay: int = 30, waiter_max_attempts: int = 1440, upload_timeout: int = 900,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.part = part
        self.cloudwatch_logs_role_arn = cloudwatch_logs_role_arn
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.upload_timeout = upload_timeout

    def job_name(self, context: Context) -> str:
        first, last = self.part
        return f"restore-{items.digest(context['run_id'])[:12]}-{first}-{last}"

    def execute(self, context: Context) -> dict[str, Any]:
        cognito = self.cognito_hook(context)
        try:
            running = [j for j in cognito.list_user_import_jobs(self.pool_id) if j.get("Status") in JOB_RUNNING]
            if running:
                # A job still runs (an earlier try's, or a re-triggered run's): a pool runs one at a
                # time. Wait for it, then import what is still missing.
                self.log.info("Import job %s is %s: waiting for it first", running[0]["JobId"], running[0]["Status"])
                return self._wait(context, cognito, running[0]["JobId"], then="execute_after_earlier")
            job_id = self._build_and_start(cognito, self.job_name(context))
        except ClientError as err:
            raise CognitoCallError("user import job", err) from None
        if job_id is None:
            self.release_budget()
            self.log.info("Part %s: no user left to import", self.part)
            return self._result(None)
        return self._wait(context, cognito, job_id, then="execute_complete")

    def execute_after_earlier(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.execute(context)

    def _build_and_start(self, cognito: Any, name: str) -> str | None:
        """Build the file, create a job, upload, start; the job's id (None: nobody to import)."""
        first, last = (int(b) for b in self.part)
        rules = self.csv_rules()
        lock = threading.Lock()
        with Comparison() as present, csv_file.CsvFile(rules) as csv_out:
            if cognito.first_users(self.pool_id):  # a resumed import: leave out users already there
                self.list_target(cognito, present)

            def add(item: dict[str, Any]) -> None:
                user = items.User.from_item(item)
                if not first <= csv_file.bucket_of(user.sub) <= last or rules.problem(user) is not None:
                    return
                if present.target_user(user.pseudo_username) is not None:
                    return
                with lock:
                    csv_out.add(user)

            scan_parallel(self.table_hook, items.USER, add)
            csv_out.close()
            if csv_out.users == 0:
                return None
            job = cognito.create_user_import_job(self.pool_id, name, self.cloudwatch_logs_role_arn)
            self._upload(job["PreSignedUrl"], csv_out.path)
            cognito.start_user_import_job(self.pool_id, job["JobId"])
            self.log.info("Import job %s started: %d users, %d bytes", job["JobId"], csv_out.users, csv_out.bytes)
            return job["JobId"]

    def _upload(self, url: str, path: str) -> None:
        with open(path, "rb") as body:
            try:
                response = requests.put(
                    url, data=body, headers={"x-amz-server-side-encryption": "aws:kms"},
                    timeout=(30, self.upload_timeout),
                )
            except requests.RequestException as err:
                raise RuntimeError(f"upload of the CSV file failed: {type(err).__name__}") from None
        if response.status_code >= 300:
            code = response.text.split("<Code>", 1)[-1].split("</Code>", 1)[0] if "<Code>" in response.text else ""
            raise RuntimeError(f"upload of the CSV file was refused: HTTP {response.status_code} {code}".strip())

    def _wait(self, context: Context, cognito: Any, job_id: str, then: str) -> dict[str, Any]:
        self.release_budget()
        if self.deferrable:
            self.defer(
                trigger=UserImportJobCompleteTrigger(
                    user_pool_id=self.pool_id, job_id=job_id, waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts, aws_conn_id=self.aws_conn_id,
                    region_name=self.cognito_region_name or self.region_name,
                ),
                method_name=then,
                timeout=timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 600),
            )
        job = self._poll(cognito, job_id)
        if then == "execute_after_earlier":
            return self.execute(context)
        return self._finish(job)

    def _poll(self, cognito: Any, job_id: str) -> dict[str, Any]:
        delay, deadline = 1.0, time.monotonic() + self.waiter_delay * self.waiter_max_attempts
        while True:
            try:
                job = cognito.describe_user_import_job(self.pool_id, job_id)
            except ClientError as err:
                raise CognitoCallError("DescribeUserImportJob", err) from None
            if job.get("Status") not in JOB_RUNNING and job.get("Status") != "Created":
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"import job {job_id} still {job.get('Status')}")
            time.sleep(delay)
            delay = min(delay * 2, float(self.waiter_delay))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed from the trigger: the job's end as counts, or an error (read from the job itself)."""
        job_id = (event or {}).get("job_id")
        try:
            job = self.cognito_hook(context).describe_user_import_job(self.pool_id, job_id)
        except ClientError as err:
            raise CognitoCallError("DescribeUserImportJob", err) from None
        finally:
            self.release_budget()
        return self._finish(job)

    def _finish(self, job: dict[str, Any]) -> dict[str, Any]:
        result = self._result(job)
        if job.get("Status") != "Succeeded":
            raise RuntimeError(
                f"import job {job.get('JobId')} did not succeed ({job.get('Status')}): imported {result['imported']}, "
                f"failed {result['failed']}, skipped {result['skipped']}"
            )
        self.log.info("Import job %s: %s", job.get("JobId"), summary(result))
        return result

    @staticmethod
    def _result(job: dict[str, Any] | None) -> dict[str, Any]:
        """Counts of a job: every line of its file is imported, failed (e.g. the user exists) or skipped."""
        job = job or {}
        imported, failed, skipped = (int(job.get(k, 0)) for k in ("ImportedUsers", "FailedUsers", "SkippedUsers"))
        return {
            "job_id": job.get("JobId", ""), "lines": imported + failed + skipped, "imported": imported,
            "failed": failed, "skipped": skipped, "clean": failed == 0 and skipped == 0,
        }
