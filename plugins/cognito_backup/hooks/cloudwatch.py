"""Amazon CloudWatch metrics hook."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from cognito_backup.hooks.client_config import NamedCaller, SharedModels

MAX_DATUMS = 1000  # PutMetricData's limit per request


class CloudWatchMetricsHook(NamedCaller, SharedModels, AwsBaseHook):
    """
    Publish Amazon CloudWatch metrics.

    Thin wrapper around :external+boto3:py:class:`boto3.client("cloudwatch") <CloudWatch.Client>`.

    :param caller: the operator's class name, for the user agent.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "cloudwatch"
        super().__init__(*args, **kwargs)

    def put_metric_data(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        for start in range(0, len(metric_data), MAX_DATUMS):
            self.conn.put_metric_data(Namespace=namespace, MetricData=metric_data[start : start + MAX_DATUMS])
