"""Airflow export DAGs: one per entry of the backups configuration, `cognito_export_<name>`.

    prepare -> users.shard[...]                         -> manifest
            -> groups -> memberships[chunk ...]         ->

`prepare` is the preflight, the table and the pool snapshot, in that order.

Every task only declares here; the work is in `plugins/cognito_backup/export/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cognito_backup.compat import DAG, Asset, Param, TaskGroup
from cognito_backup.config import BackupConfig, load_backups
from cognito_backup.docs import document_tasks, export_doc
from cognito_backup.export.operators import (
    ExportGroupsOperator,
    ExportMembershipChunkOperator,
    ExportUserShardOperator,
    PrepareExportOperator,
    WriteManifestOperator,
)
from cognito_backup.items import HEX
from cognito_backup.notifications import failure_notifier, success_notifier

FULL_REFRESH = "{{ params.full_refresh }}"


def shard_prefixes(shards: int) -> list[str]:
    """`sub` prefixes splitting the pool into `shards` parts (1, 16, 256 or 4096)."""
    prefixes = [""]
    while len(prefixes) < shards:
        prefixes = [p + h for p in prefixes for h in HEX]
    return prefixes


def export_dag(cfg: BackupConfig) -> DAG:
    common = {
        "user_pool_id": cfg.user_pool_id,
        "table_name": cfg.table_name,
        "cognito_tps": cfg.cognito_tps,
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
            "full_refresh": Param(
                False, type="boolean",
                description="Rewrite every item, changed or not (tables edited by hand or of the retired format).",
            )
        },
        tags=["cognito", "backup", "export"],
    ) as dag:
        prepare = PrepareExportOperator(
            task_id="prepare", replica_regions=list(cfg.backup_regions), manage_table=cfg.manage_table,
            full_refresh=FULL_REFRESH, execution_timeout=timedelta(hours=1), **common,
        )

        listing = {"pool_info": prepare.output, "full_refresh": FULL_REFRESH, **common}
        with TaskGroup("users"):
            users = ExportUserShardOperator.partial(
                task_id="shard", shards=cfg.user_shards, **listing
            ).expand(shard=shard_prefixes(cfg.user_shards))
        with TaskGroup("groups_and_memberships"):
            groups = ExportGroupsOperator(task_id="groups", **listing)
            memberships = ExportMembershipChunkOperator.partial(
                task_id="memberships", chunks=cfg.membership_chunks, **listing
            ).expand(chunk=list(range(cfg.membership_chunks)))
            groups >> memberships

        manifest = WriteManifestOperator(
            task_id="manifest",
            counts=[users.output, groups.output, memberships.output],
            pool_info=prepare.output,
            outlets=[Asset(name=f"cognito_backup_{cfg.name}", uri=f"dynamodb://{cfg.region}/{cfg.table_name}")],
            on_success_callback=(
                [success_notifier(cfg.notification_topic_arn, cfg.aws_conn_id, cfg.region, "export")]
                if cfg.notification_topic_arn and cfg.notify == "all" else None
            ),
            **common,
        )
        prepare >> [users, groups]
        [users, memberships] >> manifest
    document_tasks(dag, "export")
    return dag


# Without COGNITO_BACKUP_CONFIG, a cognito_backup.yaml beside this file is used (how MWAA ships it).
for _cfg in load_backups(dags_folder=Path(__file__).parent):
    globals()[_cfg.dag_id] = export_dag(_cfg)
