"""Wait for a DynamoDB table to be ACTIVE, with its indexes and replicas, without holding a worker slot."""

from __future__ import annotations

from pathlib import Path

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from cognito_backup.hooks.client_config import NamedCaller
from cognito_backup.triggers.base import ThreadedWaiterTrigger


class TableWaiterHook(NamedCaller, AwsBaseHook):
    """DynamoDB as a client (the provider's async client is made for client-type hooks only), with
    this project's waiters."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "dynamodb"
        super().__init__(*args, **kwargs)

    @property
    def waiter_path(self) -> Path:
        return Path(__file__).parents[1] / "waiters" / "dynamodb.json"


class TableActiveTrigger(ThreadedWaiterTrigger):
    """
    Poll `DescribeTable` until the table, its indexes and its replicas are `ACTIVE`.

    Uses the ``table_active`` waiter of ``waiters/dynamodb.json``: a table restored to a point in
    time (minutes to hours, by size), or replicas being added in other Regions.

    :param table_name: the table.
    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: polls before giving up.
    :param aws_conn_id: the Airflow connection for AWS.
    :param region_name: the table's Region.
    """

    def __init__(
        self,
        *,
        table_name: str,
        waiter_delay: int = 15,
        waiter_max_attempts: int = 960,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(
            serialized_fields={"table_name": table_name},
            waiter_name="table_active",
            waiter_args={"TableName": table_name},
            failure_message=f"Table {table_name} did not become ACTIVE",
            status_message=f"Status of table {table_name}",
            status_queries=["Table.TableStatus", "Table.Replicas[].ReplicaStatus", "Table.GlobalSecondaryIndexes[].IndexStatus"],
            return_key="table_name",
            return_value=table_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            **kwargs,
        )
        self.table_name = table_name

    def hook(self) -> TableWaiterHook:
        return TableWaiterHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
            config=self.botocore_config, caller=type(self).__name__,
        )
