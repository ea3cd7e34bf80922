"""The backups configuration file: one export DAG per entry.

Read at DAG-parse time, so it only reads and validates a small local YAML file. Any error
names the entry and the key, and fails parsing of the export DAG file.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cognito_backup.budget import Budget, BudgetError
from cognito_backup.export import guard

CONFIG_ENV = "COGNITO_BACKUP_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "backups.yaml"
# Looked for next to the DAG files when COGNITO_BACKUP_CONFIG is unset: a deployment that only
# syncs a DAGs folder (Amazon MWAA) ships the file there, to every scheduler and worker.
DAGS_FOLDER_CONFIG = "cognito_backup.yaml"

POOL_ID = re.compile(r"^[\w-]+_[0-9a-zA-Z]+$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
NAME = re.compile(r"^[a-z0-9_]+$")
TABLE = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
TOPIC = re.compile(r"^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
SHARD_COUNTS = (1, 16, 256, 4096)
EXPORT_DAG_PREFIX = "cognito_export_"
# Airflow's DAG ids are at most 250 characters: cognito_export_<name>.
MAX_NAME = 250 - len(EXPORT_DAG_PREFIX)
MAX_RETRY_DELAY_SECONDS = 86_400
# The schedules Airflow gives a timetable of their own, and its cron presets' expressions.
NON_CRON_SCHEDULES = ("@once", "@continuous")
CRON_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
                "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *"}


class ConfigError(ValueError):
    """A backups configuration file that cannot be used."""


@dataclass(frozen=True)
class BackupConfig:
    name: str
    user_pool_id: str
    region: str
    table_name: str
    backup_regions: tuple[str, ...] = ()
    schedule: str | None = "@daily"
    cognito_tps: float | None = 10
    cognito_quota_share: float | None = None
    cognito_quotas: dict[str, float] = field(default_factory=dict)
    cognito_category_tps: dict[str, float] = field(default_factory=dict)
    notification_topic_arn: str | None = None
    notify: str = "errors"
    manage_table: bool = True
    user_shards: int | None = None  # None: from the pool's size at run time (export/plan.py)
    membership_chunks: int | None = None  # None: from the group count at run time
    max_delete_fraction: float = guard.DEFAULT_MAX_FRACTION
    delete_floor: int = guard.DEFAULT_FLOOR
    aws_conn_id: str = "aws_default"
    retries: int = 3
    retry_delay_seconds: int = 30
    tags: tuple[str, ...] = field(default=())

    @property
    def dag_id(self) -> str:
        return f"{EXPORT_DAG_PREFIX}{self.name}"

    @property
    def budget(self) -> Budget:
        return Budget.of(self.cognito_tps, self.cognito_quota_share, self.cognito_quotas, self.cognito_category_tps)


def backup_name(dag_id: str) -> str:
    """The backups entry an export DAG was made from."""
    return dag_id.removeprefix(EXPORT_DAG_PREFIX)


_FIELDS = set(BackupConfig.__dataclass_fields__) - {"tags"}
_REQUIRED = ("name", "user_pool_id", "region", "table_name")


def _check(entry: str, key: str, ok: bool, why: str) -> None:
    if not ok:
        raise ConfigError(f"backups entry {entry}: key '{key}' {why}")


def _is_schedule(value: Any) -> bool:
    """None, or a schedule string Airflow accepts: @once, @continuous, a preset or a cron expression.

    Airflow checks a cron expression only when it validates the DAG, with an error that names
    neither entry nor key: checked here first, with the same parser (croniter, an Airflow
    dependency)."""
    if value is None or value in NON_CRON_SCHEDULES:
        return True
    if not isinstance(value, str):
        return False
    from croniter import croniter

    try:
        croniter(CRON_PRESETS.get(value, value))
    except ValueError:  # every croniter error for a malformed expression (CroniterError) is one
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_entry(raw: Any, index: int) -> BackupConfig:
    entry = f"#{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"backups entry {entry}: must be a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("name"), str):
        entry = f"#{index + 1} ({raw['name']})"
    for key in raw:
        _check(entry, key, key in _FIELDS, f"is unknown (allowed: {', '.join(sorted(_FIELDS))})")
    for key in _REQUIRED:
        _check(entry, key, key in raw and raw[key] not in (None, ""), "is required")

    _check(entry, "name", isinstance(raw["name"], str) and bool(NAME.match(raw["name"])) and len(raw["name"]) <= MAX_NAME,
           f"must match [a-z0-9_]+, at most {MAX_NAME} characters (the DAG id is cognito_export_<name>)")
    pool = raw["user_pool_id"]
    _check(entry, "user_pool_id", isinstance(pool, str) and bool(POOL_ID.match(pool)), f"is not a user pool id: {pool!r}")
    _check(entry, "region", isinstance(raw["region"], str) and bool(REGION.match(raw["region"])), "is not an AWS Region name")
    _check(entry, "user_pool_id", pool.split("_")[0] == raw["region"], f"is in Region {pool.split('_')[0]}, not {raw['region']}")
    _check(entry, "table_name", isinstance(raw["table_name"], str) and bool(TABLE.match(raw["table_name"])), "is not a DynamoDB table name")

    backup_regions = raw.get("backup_regions") or []
    _check(entry, "backup_regions", isinstance(backup_regions, list), "must be a list of Region names")
    for region in backup_regions:
        _check(entry, "backup_regions", isinstance(region, str) and bool(REGION.match(region)), f"has a bad Region name: {region!r}")
        _check(entry, "backup_regions", region != raw["region"], "must not contain the primary Region")
    _check(entry, "backup_regions", len(set(backup_regions)) == len(backup_regions), "names a Region twice")

    tps = raw.get("cognito_tps")
    _check(entry, "cognito_tps", tps is None or (_is_number(tps) and tps >= 1), "must be a number of calls per second, at least 1")
    share = raw.get("cognito_quota_share")
    _check(entry, "cognito_quota_share", share is None or _is_number(share), "must be a number, more than 0 and at most 1")
    for key in ("cognito_quotas", "cognito_category_tps"):
        _check(entry, key, raw.get(key) is None or isinstance(raw[key], dict), "must be a mapping of quota category to calls per second")
    try:
        budget = Budget.of(tps, share, raw.get("cognito_quotas"), raw.get("cognito_category_tps"))
    except BudgetError as err:
        raise ConfigError(f"backups entry {entry}: key '{err.key}' {err.why}") from None
    notify = raw.get("notify", "errors")
    _check(entry, "notify", notify in ("errors", "all"), "must be 'errors' or 'all'")
    topic = raw.get("notification_topic_arn")
    _check(entry, "notification_topic_arn", topic is None or (isinstance(topic, str) and bool(TOPIC.match(topic))), "is not an SNS topic ARN")
    manage = raw.get("manage_table", True)
    _check(entry, "manage_table", isinstance(manage, bool), "must be true or false")
    shards = raw.get("user_shards")
    _check(entry, "user_shards", shards is None or (_is_whole(shards) and shards in SHARD_COUNTS), f"must be one of {SHARD_COUNTS} (or left out: from the pool's size)")
    chunks = raw.get("membership_chunks")
    _check(entry, "membership_chunks", chunks is None or (_is_whole(chunks) and 1 <= chunks <= 256), "must be a whole number from 1 to 256 (or left out: from the group count)")
    fraction = raw.get("max_delete_fraction", BackupConfig.max_delete_fraction)
    _check(entry, "max_delete_fraction", _is_number(fraction) and 0 <= fraction <= 1, "must be a number from 0 to 1 (the largest share of users, groups or memberships one export removes)")
    floor = raw.get("delete_floor", BackupConfig.delete_floor)
    _check(entry, "delete_floor", _is_whole(floor) and floor >= 0, "must be a whole number, at least 0 (deletions one export always may make)")
    schedule = raw.get("schedule", "@daily")
    _check(entry, "schedule", _is_schedule(schedule),
           "must be null, @once, @continuous, a cron preset (@hourly, @daily, ...) or a cron expression")
    retries = raw.get("retries", 3)
    _check(entry, "retries", _is_whole(retries) and 0 <= retries <= 20, "must be a whole number from 0 to 20")
    delay = raw.get("retry_delay_seconds", 30)
    _check(entry, "retry_delay_seconds", _is_whole(delay) and 1 <= delay <= MAX_RETRY_DELAY_SECONDS,
           f"must be a whole number of seconds from 1 to {MAX_RETRY_DELAY_SECONDS:,}")
    conn = raw.get("aws_conn_id", "aws_default")
    _check(entry, "aws_conn_id", isinstance(conn, str) and bool(conn), "must be an Airflow connection id")

    return BackupConfig(
        name=raw["name"],
        user_pool_id=pool,
        region=raw["region"],
        table_name=raw["table_name"],
        backup_regions=tuple(backup_regions),
        schedule=schedule,
        cognito_tps=budget.tps,
        cognito_quota_share=budget.share,
        cognito_quotas=dict(budget.quotas),
        cognito_category_tps=dict(budget.category_tps),
        notification_topic_arn=topic,
        notify=notify,
        manage_table=manage,
        user_shards=shards,
        membership_chunks=chunks,
        max_delete_fraction=float(fraction),
        delete_floor=floor,
        aws_conn_id=conn,
        retries=retries,
        retry_delay_seconds=delay,
    )


def config_path(dags_folder: str | os.PathLike[str] | None = None) -> Path:
    """`COGNITO_BACKUP_CONFIG`, else `cognito_backup.yaml` in `dags_folder` if it is there, else the example."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if dags_folder is not None and (Path(dags_folder) / DAGS_FOLDER_CONFIG).is_file():
        return Path(dags_folder) / DAGS_FOLDER_CONFIG
    return DEFAULT_CONFIG


def load_backups(
    path: str | os.PathLike[str] | None = None, *, dags_folder: str | os.PathLike[str] | None = None
) -> list[BackupConfig]:
    """Read and validate the backups file (`path`, else the one `config_path` finds)."""
    path = Path(path or config_path(dags_folder))
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read backups configuration {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"backups configuration {path} is not valid YAML: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("backups"), list):
        raise ConfigError(f"backups configuration {path}: expected a top-level list 'backups'")
    extra = set(document) - {"backups"}
    if extra:
        raise ConfigError(f"backups configuration {path}: unknown top-level key(s) {sorted(extra)}")
    backups = [parse_entry(raw, i) for i, raw in enumerate(document["backups"])]
    names = [b.name for b in backups]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"backups configuration {path}: name '{name}' is used by more than one entry")
    return backups
