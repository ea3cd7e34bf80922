"""SNS notifications of import runs, with the topic taken from the run's params.

Built on :mod:`cognito_backup.notifications` (the export's), with the import's own failure
text; a run without `notification_topic_arn` publishes nothing.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

from cognito_backup.notifications import RUN_SUCCEEDED

TOPIC = "{{ params.notification_topic_arn or '' }}"
TOPIC_REGION = "{{ (params.notification_topic_arn or '::::').split(':')[3] or params.table_region }}"
TASK_FAILED = (
    "{{ dag.dag_id }}: task {{ ti.task_id }}{% if ti.map_index >= 0 %}[{{ ti.map_index }}]{% endif %} "
    "failed after {{ ti.try_number }} tries in run {{ run_id }} (target pool "
    "{{ params.target_user_pool_id or 'to be created' }}, "
    "table {{ params.backup_table }} in {{ params.table_region }}"
    "{% if params.restore_point %} as it was at {{ params.restore_point }}{% endif %}).\n"
    "An import only adds: clear the failed task, or trigger the DAG again with the same parameters, to resume. "
    "Task log: {{ ti.log_url }}"
)


class ParamTopicSnsNotifier(SnsNotifier):
    """An SnsNotifier that stays silent when the rendered topic is empty."""

    def notify(self, context):
        if self._has_topic():
            super().notify(context)

    async def async_notify(self, context):
        if self._has_topic():
            await super().async_notify(context)

    def _has_topic(self) -> bool:
        # The param's pattern makes a topic an ARN. Airflow 2 leaves a notifier field whose
        # template renders empty as the template itself, so "not empty" is not enough.
        return str(self.target_arn).startswith("arn:")


def import_failure_notifier(aws_conn_id: str) -> SnsNotifier:
    return ParamTopicSnsNotifier(
        aws_conn_id=aws_conn_id, region_name=TOPIC_REGION, target_arn=TOPIC,
        subject="Cognito import failed", message=TASK_FAILED,
    )


def import_success_notifier(aws_conn_id: str) -> SnsNotifier:
    return ParamTopicSnsNotifier(
        aws_conn_id=aws_conn_id, region_name=TOPIC_REGION, target_arn=TOPIC,
        subject="Cognito import completed", message=RUN_SUCCEEDED,
    )
