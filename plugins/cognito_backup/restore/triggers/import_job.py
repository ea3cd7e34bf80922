"""Wait for a Cognito user import job without holding a worker slot."""

from __future__ import annotations

from cognito_backup.hooks.cognito import CognitoHook
from cognito_backup.triggers.base import ThreadedWaiterTrigger


class UserImportJobCompleteTrigger(ThreadedWaiterTrigger):
    """
    Poll `DescribeUserImportJob` until the job is `Succeeded` (or `Failed`, `Stopped`, `Expired`).

    Uses the ``user_import_job_complete`` waiter of ``waiters/cognito-idp.json``, with the async
    AWS client when the triggerer has it, else with the synchronous one in a thread per poll.

    :param user_pool_id: the pool the job imports into.
    :param job_id: the import job.
    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: polls before giving up.
    :param aws_conn_id: the Airflow connection for AWS.
    :param region_name: the pool's Region.
    """

    def __init__(
        self,
        *,
        user_pool_id: str,
        job_id: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 1440,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(
            serialized_fields={"user_pool_id": user_pool_id, "job_id": job_id},
            waiter_name="user_import_job_complete",
            waiter_args={"UserPoolId": user_pool_id, "JobId": job_id},
            failure_message="Cognito user import job did not succeed",
            status_message="Status of the Cognito user import job is",
            status_queries=["UserImportJob.Status", "UserImportJob.ImportedUsers", "UserImportJob.FailedUsers"],
            return_key="job_id",
            return_value=job_id,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            **kwargs,
        )

    # Spelled out: older amazon providers (9.22 and before) have no aws_hook_class default for it.
    def hook(self) -> CognitoHook:
        return CognitoHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
            config=self.botocore_config, caller=type(self).__name__,
        )
