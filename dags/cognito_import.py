r"""Airflow import DAG `cognito_import`: restore a backup table into a user pool, in either Region.

Triggered by hand (UI form, CLI `airflow dags trigger cognito_import --conf '{...}'`, REST API):

    check_params -> point_in_time -> read_backup -> mode --> dry_run   (dry_run: reads and checks only)
                                        |-> target.check -> target.prepare                (or creates the pool)
                                        \-> users.strategy     (chosen from the params meanwhile)
    target.prepare -> groups.create                                  (alongside the users steps)
    target.prepare + users.strategy --> users.csv_plan -> users.csv_job[file ...] -> users.reconcile[segment ...]
                                    |                                   (lines a CSV job refused, created one by one)
                                    \-> users.create[segment ...]      (while the CSV jobs run: users a CSV cannot
                                                                        carry; with admin_create: everyone)
    groups.create + users.reconcile -> memberships.after_csv[segment ...]     (members the CSV jobs imported,
                                                                              while users.create still runs)
    groups.create + users.create    -> memberships.after_create[segment ...]  (members created one by one)
    users.create + users.reconcile  -> memberships.disable
        -> verify                                 (report to report_s3_uri; fails on any difference)
    [verify or dry_run] -> cleanup                (drops the table point_in_time restored, unless kept)

With `restore_point`, `point_in_time` restores the backup table as it was then into a new table
(DynamoDB point-in-time recovery) and every later task reads that one. With `target_mode:
missing_only`, the target is a live pool: only users, groups and memberships it lacks are added,
and nothing it holds is changed.

Every task only declares here; the work is in `plugins/cognito_backup/restore/`. Every Cognito
call of a run shares one budget of `cognito_tps` calls per second, or, with
`cognito_quota_share`, the budget of its quota category (calls of different categories run side
by side); a run only adds, so a failed task can be cleared (or the run triggered again) to resume.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Named so that the dag-processor imports boto3 once, not at every parse (see cognito_export.py).
import airflow.providers.amazon.aws.hooks.base_aws  # noqa: F401

from cognito_backup.budget import DEFAULT_TPS
from cognito_backup.compat import DAG, TaskGroup
from cognito_backup.config import POOL_ID, REGION, TABLE, TOPIC
from cognito_backup.docs import dag_doc, document_tasks
from cognito_backup.params import param, share_dag_params
from cognito_backup.restore.csv_job import ImportCsvPartOperator
from cognito_backup.restore.notifications import import_failure_notifier, import_success_notifier
from cognito_backup.restore.live_pool import NEW_POOL, TARGET_MODES
from cognito_backup.restore.memberships import AddCreatedMembershipsOperator, AddImportedMembershipsOperator
from cognito_backup.restore.operators import (
    BACKUP_XCOM,
    PLAN_XCOM,
    ROLE_VARIABLE,
    CheckImportParamsOperator,
    CheckTargetOperator,
    ChooseBranchOperator,
    DisableUsersOperator,
    DryRunImportOperator,
    PlanCsvImportOperator,
    PrepareTargetOperator,
    ReadBackupOperator,
    ReconcileCsvUsersOperator,
    RestoreGroupsOperator,
    RestoreUsersOperator,
    VerifyImportOperator,
)
from cognito_backup.restore.point_in_time import TABLE_XCOM, DropRestoredTableOperator, RestoreToPointInTimeOperator
from cognito_backup.quotas import CATEGORIES
from cognito_backup.restore.report import S3_URI

AWS_CONN_ID = "aws_default"
TARGET_REGION = "{{ params.target_region or params.table_region }}"
STRATEGY = "{{ params.strategy }}"
LEGACY_SUB = "{{ params.legacy_sub_attribute or '' }}"
ROLE_ARN = "{{ var.value.get('" + ROLE_VARIABLE + "', '') }}"
REPORT_S3_URI = "{{ params.report_s3_uri or '' }}"

PARAMS = {
    "backup_table": param(type="string", pattern=TABLE.pattern, description="The backup table (DynamoDB)."),
    "table_region": param(
        type="string", pattern=REGION.pattern,
        description="The table's Region: in a recovery, the backup Region's replica.",
    ),
    "target_user_pool_id": param(
        None, type=["null", "string"], pattern=POOL_ID.pattern,
        description="The pool to restore into; required unless create_target_pool.",
    ),
    "target_region": param(
        None, type=["null", "string"], pattern=REGION.pattern,
        description="The target pool's Region (default: table_region).",
    ),
    "strategy": param(
        "csv_import", type="string", enum=["csv_import", "admin_create"],
        description="csv_import: Cognito import jobs, then AdminCreateUser for users a CSV cannot carry. "
        "admin_create: AdminCreateUser for every user.",
    ),
    "cognito_tps": param(
        None, type=["null", "number"], minimum=1,
        description=f"Cognito calls per second for the whole run (empty: {DEFAULT_TPS:g}, unless cognito_quota_share "
        "is set; then empty means no cap on all calls together). Cognito's quotas are per account and Region, shared "
        "with the live pools of the target's Region: what the restore uses, they lack.",
    ),
    "cognito_quota_share": param(
        None, type=["null", "number"], exclusiveMinimum=0, maximum=1,
        description="A budget per Cognito quota category instead of one for all calls: this share of each category's "
        "quota (1: all of it, for the fastest restore when nothing else runs in the Region; 0.5 leaves half to the "
        "live pools). Calls of different categories (users created, memberships added, listings) then run side by side.",
    ),
    "cognito_quotas": param(
        None, type=["null", "object"], propertyNames={"enum": list(CATEGORIES)},
        additionalProperties={"type": "number", "exclusiveMinimum": 0},
        description="With cognito_quota_share: the account's quotas where AWS raised them from its defaults, by "
        'category, e.g. {"UserCreation": 100}.',
    ),
    "cognito_category_tps": param(
        None, type=["null", "object"], propertyNames={"enum": list(CATEGORIES)},
        additionalProperties={"type": "number", "exclusiveMinimum": 0},
        description='With cognito_quota_share: caps per category, in calls per second, e.g. {"UserResourceUpdate": 10}.',
    ),
    "dry_run": param(
        False, type="boolean", description="Read and check everything, report what would be created; write nothing.",
    ),
    "create_target_pool": param(
        False, type="boolean", description="Create a pool like the backed-up one (from the backup's snapshot).",
    ),
    "legacy_sub_attribute": param(
        "custom:legacy_sub", type="string", pattern=r"^(custom:[\w.-]{1,20})?$",
        description="Custom attribute that keeps each user's old sub, when the target pool has it ('' for none).",
    ),
    "report_s3_uri": param(
        None, type=["null", "string"], pattern=S3_URI.pattern,
        description="s3://bucket/prefix for the report and the old-sub to new-sub map.",
    ),
    "notification_topic_arn": param(
        None, type=["null", "string"], pattern=TOPIC.pattern, description="SNS topic for failures and completion.",
    ),
    "target_mode": param(
        NEW_POOL, type="string", enum=list(TARGET_MODES),
        description="new_pool: the target is empty (or holds an earlier run of this import) and ends equal to the "
        "backup. missing_only: the target is a live pool; only the backed-up users whose sign-in name it lacks are "
        "created, with the groups and memberships it lacks; nothing it holds is changed, disabled or deleted "
        "(bring back users deleted by mistake).",
    ),
    "restore_point": param(
        None, type=["null", "string"], format="date-time",
        description="Restore the backup as it was at this time, ISO-8601 UTC (e.g. 2026-11-30T14:00:00Z), through "
        "DynamoDB point-in-time recovery of the table in table_region: within its restorable window (35 days by "
        "default, up to about 5 minutes ago). Empty: the backup as it is now.",
    ),
    "keep_restored_table": param(
        False, type="boolean",
        description="With restore_point: keep the table restored for this run (named <backup_table>-pitr-<time>) "
        "instead of deleting it after a successful run.",
    ),
}

on_table = {
    "region_name": "{{ params.table_region }}",
    "cognito_region_name": TARGET_REGION,
    "cognito_tps": "{{ params.cognito_tps }}",
    "cognito_quota_share": "{{ params.cognito_quota_share }}",
    "cognito_quotas": "{{ params.cognito_quotas | tojson }}",
    "cognito_category_tps": "{{ params.cognito_category_tps | tojson }}",
    "aws_conn_id": AWS_CONN_ID,
}

with DAG(
    dag_id="cognito_import",
    description="Restore a Cognito backup table into a user pool (a new one, or an empty compatible one)",
    doc_md=dag_doc("import"),
    schedule=None,
    is_paused_upon_creation=False,  # triggered by hand only: a paused one would queue the run, silently
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=6),
        "on_failure_callback": [import_failure_notifier(AWS_CONN_ID)],
    },
    tags=["cognito", "backup", "import"],
) as dag:
    check_params = CheckImportParamsOperator(
        task_id="check_params", cloudwatch_logs_role_arn=ROLE_ARN, execution_timeout=timedelta(minutes=5)
    )
    point_in_time = RestoreToPointInTimeOperator(
        task_id="point_in_time", table_name="{{ params.backup_table }}", restore_point="{{ params.restore_point or '' }}",
        execution_timeout=timedelta(minutes=30), **on_table,
    )
    # Every later task reads the table point_in_time names: the backup table, or its restore.
    common = {"table_name": point_in_time.output[TABLE_XCOM], **on_table}
    read_backup = ReadBackupOperator(
        task_id="read_backup", user_pool_id="", execution_timeout=timedelta(minutes=10), **common
    )
    segments = read_backup.output  # the table's scan segments: users and memberships are mapped over them
    backup = read_backup.output[BACKUP_XCOM]
    restoring = {
        "backup": backup, "strategy": STRATEGY, "legacy_sub_attribute": LEGACY_SUB,
        "target_mode": "{{ params.target_mode }}", **common,
    }
    mode = ChooseBranchOperator(
        task_id="mode", choice="{{ params.dry_run }}",
        branches={"true": "dry_run", "false": ["target.check", "users.strategy"]},
    )
    checking = {
        "user_pool_id": "{{ params.target_user_pool_id or '' }}",
        "create_target_pool": "{{ params.create_target_pool }}",
        "report_s3_uri": REPORT_S3_URI,
        **restoring,
    }
    dry_run = DryRunImportOperator(task_id="dry_run", execution_timeout=timedelta(hours=2), **checking)

    with TaskGroup("target"):
        check = CheckTargetOperator(task_id="check", execution_timeout=timedelta(hours=2), **checking)
        prepare = PrepareTargetOperator(
            task_id="prepare", check=check.output, execution_timeout=timedelta(minutes=30), **restoring
        )
        check >> prepare
    on_target = {"target": prepare.output, **restoring}

    with TaskGroup("groups"):
        groups = RestoreGroupsOperator(task_id="create", execution_timeout=timedelta(hours=2), **on_target)

    with TaskGroup("users"):
        strategy = ChooseBranchOperator(
            task_id="strategy", choice=STRATEGY,
            branches={"csv_import": ["users.csv_plan", "users.create"], "admin_create": "users.create"},
        )
        csv_plan = PlanCsvImportOperator(task_id="csv_plan", execution_timeout=timedelta(hours=1), **on_target)
        csv_job = ImportCsvPartOperator.partial(
            task_id="csv_job", cloudwatch_logs_role_arn=ROLE_ARN, deferrable=True,
            max_active_tis_per_dagrun=1,  # Cognito runs one import job of a pool at a time
            execution_timeout=timedelta(hours=24), **on_target,
        ).expand(part=csv_plan.output)
        # Users a CSV file cannot carry are created while the CSV jobs run: different users.
        create = RestoreUsersOperator.partial(
            task_id="create", execution_timeout=timedelta(hours=12), **on_target,
        ).expand(segment=segments)
        reconcile = ReconcileCsvUsersOperator.partial(
            task_id="reconcile", csv_task_id="users.csv_job",
            trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(hours=12), **on_target,
        ).expand(segment=segments)
        strategy >> [csv_plan, create]
        csv_plan >> csv_job >> reconcile

    with TaskGroup("memberships"):
        # The members the CSV jobs imported are there once the jobs are: their memberships need not
        # wait for the users created one by one, whose memberships follow them.
        after_csv = AddImportedMembershipsOperator.partial(
            task_id="after_csv", execution_timeout=timedelta(hours=12), **on_target,
        ).expand(segment=segments)
        after_create = AddCreatedMembershipsOperator.partial(
            task_id="after_create", execution_timeout=timedelta(hours=12), **on_target,
        ).expand(segment=segments)
        # Admin calls work on disabled users, so disabling need not wait for the memberships.
        disable = DisableUsersOperator(task_id="disable", execution_timeout=timedelta(hours=6), **on_target)

    verify = VerifyImportOperator(
        task_id="verify",
        report_s3_uri=REPORT_S3_URI,
        step_task_ids={
            "groups": "groups.create", "csv_plan": ("users.csv_plan", PLAN_XCOM), "csv_jobs": "users.csv_job",
            "users": "users.create", "reconcile": "users.reconcile",
            "memberships": ["memberships.after_csv", "memberships.after_create"], "disable": "memberships.disable",
        },
        execution_timeout=timedelta(hours=6),
        on_success_callback=[import_success_notifier(AWS_CONN_ID)],
        **on_target,
    )

    cleanup = DropRestoredTableOperator(
        task_id="cleanup", table_name="{{ params.backup_table }}", source=point_in_time.output,
        keep_restored_table="{{ params.keep_restored_table }}", trigger_rule="none_failed_min_one_success",
        execution_timeout=timedelta(minutes=10), **on_table,
    )

    check_params >> point_in_time >> read_backup >> mode >> [dry_run, check, strategy]
    prepare >> [groups, csv_plan, create]  # groups and users are independent
    [groups, reconcile] >> after_csv
    [groups, create] >> after_create
    [create, reconcile] >> disable
    [after_csv, after_create, disable] >> verify
    [verify, dry_run] >> cleanup

document_tasks(dag, "import")
share_dag_params(dag)
