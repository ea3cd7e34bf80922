"""SNS notifications of runs: what failed and where to look, never user data."""

from __future__ import annotations

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

TASK_FAILED = (
    "{% if exception is defined and exception.held_back is defined %}"
    # The deletion guard's message: counts and the way out (export/deletions.py), no user data.
    "{{ dag.dag_id }}: run {{ run_id }}: {{ exception }}\nTask log: {{ ti.log_url }}"
    "{% else %}"
    "{{ dag.dag_id }}: task {{ ti.task_id }}{% if ti.map_index >= 0 %}[{{ ti.map_index }}]{% endif %} "
    "failed after {{ ti.try_number }} tries in run {{ run_id }}.\n"
    "The export manifest was not advanced, and nothing gone from the pool is removed from the backup "
    "before every listing task has succeeded. "
    "Task log: {{ ti.log_url }}"
    "{% endif %}"
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
