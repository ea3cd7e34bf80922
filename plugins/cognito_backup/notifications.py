"""SNS notifications of runs: what failed and where to look, never user data."""

from __future__ import annotations

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

TASK_FAILED = (
    "{{ dag.dag_id }}: task {{ ti.task_id }}{% if ti.map_index >= 0 %}[{{ ti.map_index }}]{% endif %} "
    "failed after {{ ti.try_number }} tries in run {{ run_id }}.\n"
    "Nothing of that task's scope was deleted from the backup table, and the export manifest was not "
    "advanced. Task log: {{ ti.log_url }}"
)
RUN_SUCCEEDED = "{{ dag.dag_id }}: run {{ run_id }} completed. Counts: {{ ti.xcom_pull(task_ids=ti.task_id) }}"


def failure_notifier(topic_arn: str, aws_conn_id: str, region: str, what: str) -> SnsNotifier:
    return SnsNotifier(
        aws_conn_id=aws_conn_id, region_name=region, target_arn=topic_arn,
        subject=f"Cognito {what} failed", message=TASK_FAILED,
    )


def success_notifier(topic_arn: str, aws_conn_id: str, region: str, what: str) -> SnsNotifier:
    return SnsNotifier(
        aws_conn_id=aws_conn_id, region_name=region, target_arn=topic_arn,
        subject=f"Cognito {what} completed", message=RUN_SUCCEEDED,
    )
