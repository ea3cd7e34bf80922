"""Cognito user import jobs, which moto lacks.

GetCSVHeader, CreateUserImportJob, StartUserImportJob, StopUserImportJob,
DescribeUserImportJob and ListUserImportJobs with AWS's response shapes, plus the
pre-signed URL the CSV is PUT to (served by the emulator itself, S3-like: it insists on
``x-amz-server-side-encryption: aws:kms``).

A started job runs in a background thread: Pending briefly, then InProgress while it
imports at the configured rate (users per second), then Succeeded (even when lines
failed: the counts tell), Failed (a file-level problem) or, after StopUserImportJob,
Stopping and then Stopped.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import secrets
import string
import threading
import time
import uuid
from typing import Any

from moto.cognitoidp.models import CognitoIdpUserPool, UserStatus
from moto.core.utils import utcnow

from localaws import backends
from localaws.cognito import CognitoError, Handler, epoch, insert_user, invalid, not_found, page_limit, required, user_pool
from localaws.cognito_csv import FileError, LineError, LineRules, csv_header, read_file
from localaws.config import RuntimeConfig
from localaws.protocol import AwsCall

UPLOAD_PATH = "/_localaws/uploads/"
PENDING_SECONDS = 0.5  # how long a started job stays Pending
STOPPING_SECONDS = 0.2  # how long a stopped job stays Stopping
TICK_SECONDS = 0.05  # import work is done in slices this long, each under the state lock
_JOB_ID_CHARS = string.ascii_letters + string.digits


@dataclasses.dataclass
class ImportJob:
    job_id: str
    name: str
    account: str
    region: str
    pool_id: str
    role_arn: str
    presigned_url: str
    signature: str
    created: datetime.datetime = dataclasses.field(default_factory=utcnow)
    status: str = "Created"
    started: datetime.datetime | None = None
    completed: datetime.datetime | None = None
    message: str | None = None
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    data: bytes | None = None
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stop_requested: bool = False
    cancelled: bool = False  # the emulator was reset: the worker must leave everything alone
    wake: threading.Event = dataclasses.field(default_factory=threading.Event)

    def to_json(self) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "JobName": self.name,
            "JobId": self.job_id,
            "UserPoolId": self.pool_id,
            "PreSignedUrl": self.presigned_url,
            "CreationDate": epoch(self.created),
            "Status": self.status,
            "CloudWatchLogsRoleArn": self.role_arn,
            "ImportedUsers": self.imported,
            "SkippedUsers": self.skipped,
            "FailedUsers": self.failed,
        }
        if self.started:
            reply["StartDate"] = epoch(self.started)
        if self.completed:
            reply["CompletionDate"] = epoch(self.completed)
        if self.message:
            reply["CompletionMessage"] = self.message
        return reply

    def finish(self, status: str, message: str) -> None:
        self.status, self.message, self.completed = status, message, utcnow()


class ImportJobs:
    def __init__(self, config: RuntimeConfig):
        self._config = config
        self._jobs: dict[str, ImportJob] = {}  # every job of every pool, by JobId

    @property
    def handlers(self) -> dict[str, Handler]:
        return {
            "GetCSVHeader": self.get_csv_header,
            "CreateUserImportJob": self.create,
            "StartUserImportJob": self.start,
            "StopUserImportJob": self.stop,
            "DescribeUserImportJob": self.describe,
            "ListUserImportJobs": self.list_jobs,
        }

    # --- API operations (called under the state lock) -------------------------------

    def get_csv_header(self, call: AwsCall) -> dict[str, Any]:
        pool = user_pool(call.account, call.region, required(call.params, "UserPoolId"))
        return {"UserPoolId": pool.id, "CSVHeader": csv_header(pool)}

    def create(self, call: AwsCall) -> dict[str, Any]:
        params = call.params
        pool = user_pool(call.account, call.region, required(params, "UserPoolId"))
        name = required(params, "JobName")
        role_arn = required(params, "CloudWatchLogsRoleArn")
        if len(name) > 128:
            raise invalid("JobName must be at most 128 characters.")
        if not role_arn.startswith("arn:") or len(role_arn) < 20:
            raise invalid(f"CloudWatchLogsRoleArn {role_arn!r} is not a valid ARN.")
        job_id = "import-" + "".join(secrets.choice(_JOB_ID_CHARS) for _ in range(10))
        signature = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        url = (
            f"http://{call.host}{UPLOAD_PATH}{job_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={stamp}&X-Amz-SignedHeaders=host%3Bx-amz-server-side-encryption"
            f"&X-Amz-Expires=900&X-Amz-Signature={signature}"
        )
        job = ImportJob(job_id, name, call.account, call.region, pool.id, role_arn, url, signature)
        self._jobs[job_id] = job
        return {"UserImportJob": job.to_json()}

    def start(self, call: AwsCall) -> dict[str, Any]:
        job = self._job(call)
        if job.status != "Created":
            raise CognitoError("PreconditionNotMetException", f"Import job {job.job_id} is {job.status}, not Created.")
        job.status, job.started = "Pending", utcnow()
        threading.Thread(target=self._run, args=(job,), name=f"import-{job.job_id}", daemon=True).start()
        return {"UserImportJob": job.to_json()}

    def stop(self, call: AwsCall) -> dict[str, Any]:
        job = self._job(call)
        if job.status not in ("Pending", "InProgress"):
            raise CognitoError("PreconditionNotMetException", f"Import job {job.job_id} is {job.status}, not running.")
        job.status, job.stop_requested = "Stopping", True
        job.wake.set()
        return {"UserImportJob": job.to_json()}

    def describe(self, call: AwsCall) -> dict[str, Any]:
        return {"UserImportJob": self._job(call).to_json()}

    def list_jobs(self, call: AwsCall) -> dict[str, Any]:
        params = call.params
        pool = user_pool(call.account, call.region, required(params, "UserPoolId"))
        limit = page_limit(params, "MaxResults")
        jobs = [job for job in self._jobs.values() if (job.account, job.region, job.pool_id) == (call.account, call.region, pool.id)]
        token = params.get("PaginationToken")
        start = 0
        if token is not None:
            if not token.isdigit() or int(token) > len(jobs):
                raise invalid("Invalid pagination token.")
            start = int(token)
        reply: dict[str, Any] = {"UserImportJobs": [job.to_json() for job in jobs[start : start + limit]]}
        if start + limit < len(jobs):
            reply["PaginationToken"] = str(start + limit)
        return reply

    def _job(self, call: AwsCall) -> ImportJob:
        pool_id = required(call.params, "UserPoolId")
        user_pool(call.account, call.region, pool_id)
        job_id = required(call.params, "JobId")
        job = self._jobs.get(job_id)
        if job is None or (job.account, job.region, job.pool_id) != (call.account, call.region, pool_id):
            raise not_found(f"Import job {job_id} does not exist.")
        return job

    # --- the pre-signed upload and test introspection ------------------------------

    def upload(self, job_id: str, method: str, signature: str | None, encryption: str | None, data: bytes) -> tuple[int, str]:
        """Accept the CSV PUT to a pre-signed URL: (HTTP status, S3-style error code or "")."""
        with backends.STATE_LOCK:
            job = self._jobs.get(job_id)
            if job is None or method != "PUT" or signature != job.signature:
                return 403, "SignatureDoesNotMatch"
            if encryption != "aws:kms":
                return 403, "AccessDenied"
            if job.status != "Created":
                return 403, "AccessDenied"
            job.data = data
            return 200, ""

    def details(self, job_id: str) -> dict[str, Any] | None:
        """The job as DescribeUserImportJob shows it, plus each failed line and why."""
        with backends.STATE_LOCK:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return {"UserImportJob": job.to_json(), "Failures": list(job.failures)}

    def reset(self) -> None:
        with backends.STATE_LOCK:
            for job in self._jobs.values():
                job.cancelled = True
                job.wake.set()
            self._jobs.clear()

    # --- the worker -------------------------------------------------------------------

    def _run(self, job: ImportJob) -> None:
        job.wake.wait(PENDING_SECONDS)
        with backends.STATE_LOCK:
            if job.cancelled:
                return
            if job.stop_requested:
                return self._finish_stopping(job, remaining=0)
            pool = self._pool(job)
            if pool is None:
                return
            rules = LineRules(pool)
            try:
                lines = read_file(job.data, rules.header)
            except FileError as error:
                return job.finish("Failed", str(error))
            job.data = None  # the lines hold the content now
            job.status = "InProgress"

        seen: set[str] = set()
        index = 0
        while index < len(lines):
            rate = self._config.current.import_rate
            batch = max(1, int(rate * TICK_SECONDS))
            began = time.monotonic()
            with backends.STATE_LOCK:
                if job.cancelled:
                    return
                if job.stop_requested:
                    return self._finish_stopping(job, remaining=len(lines) - index)
                pool = self._pool(job)
                if pool is None:
                    return
                for number in range(index, min(index + batch, len(lines))):
                    self._import_line(job, pool, rules, lines[number], number + 2, seen)
            index += batch
            job.wake.wait(max(0.0, began + batch / rate - time.monotonic()))
        with backends.STATE_LOCK:
            if not job.cancelled:
                job.finish("Succeeded", "Import Job Completed Successfully.")

    def _pool(self, job: ImportJob) -> CognitoIdpUserPool | None:
        pool = backends.cognito(job.account, job.region).user_pools.get(job.pool_id)
        if pool is None:
            job.finish("Failed", "The user pool no longer exists.")
        return pool

    def _finish_stopping(self, job: ImportJob, remaining: int) -> None:
        # Called under the lock; stays Stopping a moment so pollers can see it.
        job.skipped += remaining
        timer = threading.Timer(STOPPING_SECONDS, self._stopped, args=(job,))
        timer.daemon = True
        timer.start()

    def _stopped(self, job: ImportJob) -> None:
        with backends.STATE_LOCK:
            if not job.cancelled:
                job.finish("Stopped", "Import Job Stopped.")

    @staticmethod
    def _import_line(job: ImportJob, pool: CognitoIdpUserPool, rules: LineRules, line: str, number: int, seen: set[str]) -> None:
        username = None
        try:
            user = rules.parse(line)
            username = user.username
            if username in seen:
                raise LineError("cognito:username appears more than once in the CSV file.")
            seen.add(username)
            if pool._get_user(username) is not None:
                raise LineError("A user with this cognito:username already exists in the user pool.")
            sub = str(uuid.uuid4())
            internal_username = sub if rules.username_attributes else username
            created = insert_user(pool, internal_username, user.attributes, UserStatus.RESET_REQUIRED, sub=sub)
            created.sms_mfa_enabled = user.mfa_enabled
            job.imported += 1
        except LineError as error:
            job.failed += 1
            job.failures.append({"line": number, "username": username or rules.username_cell(line), "reason": str(error)})
