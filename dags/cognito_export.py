"""Airflow export DAGs: one per entry of the backups configuration, `cognito_export_<name>`.

    prepare -> users.shard[...]                                  -> finish
            -> groups_and_memberships.groups -> .memberships[...] ->

`prepare` is the preflight, the table and the pool snapshot, in that order; it splits the user
listing into tasks by the pool's size. `groups` lists the groups and, when there are few, their
members; else the `memberships` tasks do. The listing tasks write what is new or changed and
stage what is gone; `finish` removes what they staged, or holds all of it back when the run
found more gone than the deletion guard allows, then writes the manifest (when deletions were
held back, the run then fails, saying so).

Every task only declares here; the work is in `plugins/cognito_backup/export/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

# The dag-processor imports the Airflow modules a DAG file names once, in its own process, before
# it forks a parser for the file ([dag_processor] parsing_pre_import_modules). Naming the Amazon
# provider's base hook, which every hook of this package builds on, spares each parse importing
# boto3 and botocore again: about 0.12 CPU-s a parse, every 30 s by default.
import airflow.providers.amazon.aws.hooks.base_aws  # noqa: F401

from cognito_backup.compat import DAG, Asset, TaskGroup
from cognito_backup.config import BackupConfig, load_backups
from cognito_backup.docs import document_tasks, export_doc
from cognito_backup.export.operators import (
    COUNTS_XCOM,
    POOL_XCOM,
    ExportGroupsOperator,
    ExportMembershipChunkOperator,
    ExportUserShardOperator,
    FinishExportOperator,
    PrepareExportOperator,
)
from cognito_backup.notifications import failure_notifier, success_notifier
from cognito_backup.params import param, share_dag_params

FULL_REFRESH = "{{ params.full_refresh }}"
ALLOW_MASS_DELETE = "{{ params.allow_mass_delete }}"


def export_dag(cfg: BackupConfig) -> DAG:
    common = {
        "user_pool_id": cfg.user_pool_id,
        "table_name": cfg.table_name,
        "cognito_tps": cfg.cognito_tps,
        "cognito_quota_share": cfg.cognito_quota_share,
        "cognito_quotas": cfg.cognito_quotas,
        "cognito_category_tps": cfg.cognito_category_tps,
        "aws_conn_id": cfg.aws_conn_id,
        "region_name": cfg.region,
    }
    default_args = {
        "retries": cfg.retries,
        "retry_delay": timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=6),
    }
    if cfg.notification_topic_arn:
        default_args["on_failure_callback"] = [
            failure_notifier(cfg.notification_topic_arn, cfg.aws_conn_id, cfg.region, "export")
        ]

    with DAG(
        dag_id=cfg.dag_id,
        description=f"Back up Cognito user pool {cfg.user_pool_id} to DynamoDB table {cfg.table_name}",
        doc_md=export_doc(cfg),
        schedule=cfg.schedule,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        params={
            "full_refresh": param(
                False, type="boolean",
                description="Rewrite every item, changed or not (tables edited by hand or of the retired format).",
            ),
            "allow_mass_delete": param(
                False, type="boolean",
                description="Remove from the backup everything gone from the pool, even more than the deletion guard "
                f"allows ({cfg.max_delete_fraction:.0%} of users, groups or memberships, and always up to "
                f"{cfg.delete_floor}). Only when a mass deletion in the pool was intended.",
            ),
        },
        tags=["cognito", "backup", "export"],
    ) as dag:
        prepare = PrepareExportOperator(
            task_id="prepare", replica_regions=list(cfg.backup_regions), manage_table=cfg.manage_table,
            full_refresh=FULL_REFRESH, user_shards=cfg.user_shards, execution_timeout=timedelta(hours=1), **common,
        )

        listing = {"pool_info": prepare.output[POOL_XCOM], "full_refresh": FULL_REFRESH, **common}
        with TaskGroup("users"):
            users = ExportUserShardOperator.partial(task_id="shard", **listing).expand(prefixes=prepare.output)
        with TaskGroup("groups_and_memberships"):
            groups = ExportGroupsOperator(task_id="groups", membership_chunks=cfg.membership_chunks, **listing)
            memberships = ExportMembershipChunkOperator.partial(task_id="memberships", **listing).expand(
                chunk=groups.output
            )

        finish = FinishExportOperator(
            task_id="finish",
            counts=[users.output, groups.output[COUNTS_XCOM], memberships.output],
            pool_info=prepare.output[POOL_XCOM],
            max_delete_fraction=cfg.max_delete_fraction,
            delete_floor=cfg.delete_floor,
            allow_mass_delete=ALLOW_MASS_DELETE,
            # The memberships task is skipped when the groups task listed the members itself.
            trigger_rule="none_failed",
            outlets=[Asset(name=f"cognito_backup_{cfg.name}", uri=f"dynamodb://{cfg.region}/{cfg.table_name}")],
            on_success_callback=(
                [success_notifier(cfg.notification_topic_arn, cfg.aws_conn_id, cfg.region, "export")]
                if cfg.notification_topic_arn and cfg.notify == "all" else None
            ),
            **common,
        )
        prepare >> [users, groups]
        [users, groups, memberships] >> finish
    document_tasks(dag, "export")
    share_dag_params(dag)
    return dag


# Without COGNITO_BACKUP_CONFIG, a cognito_backup.yaml beside this file is used (how MWAA ships it).
for _cfg in load_backups(dags_folder=Path(__file__).parent):
    globals()[_cfg.dag_id] = export_dag(_cfg)
