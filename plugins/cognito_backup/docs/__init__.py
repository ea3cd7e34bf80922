"""The DAGs' documentation in the Airflow UI: Markdown files of this folder, read at parse time.

`<dag>.md` is the DAG's page (`$name`-style placeholders filled in); `<dag>/<task id>.md` a
task's. The runbook link comes from the Airflow option `[cognito_backup] runbook_url`
(`AIRFLOW__COGNITO_BACKUP__RUNBOOK_URL`), so each deployment links its own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from cognito_backup.compat import conf
from cognito_backup.config import BackupConfig

HERE = Path(__file__).parent


@cache
def _text(name: str) -> str | None:
    """A doc file's text (None when there is none), read once per process: every backups entry's
    DAG and every task ask again at each parse."""
    path = HERE / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def runbook_line() -> str:
    url = conf.get("cognito_backup", "runbook_url", fallback="")
    if url:
        return f"**Runbook:** [{url}]({url})"
    return "**Runbook:** none linked here yet: set the Airflow option `[cognito_backup] runbook_url`."


def dag_doc(dag: str, **values: Any) -> str:
    return Template(_text(f"{dag}.md")).safe_substitute(values, runbook=runbook_line())


def export_doc(cfg: BackupConfig) -> str:
    return dag_doc(
        "export", name=cfg.name, dag_id=cfg.dag_id, user_pool_id=cfg.user_pool_id, region=cfg.region,
        table_name=cfg.table_name, backup_regions=", ".join(cfg.backup_regions) or "none",
        schedule=cfg.schedule or "none (triggered only)",
        budget=cfg.budget.describe(),
        notify=f"{cfg.notify}, to {cfg.notification_topic_arn}" if cfg.notification_topic_arn else "nobody",
        manage_table="created and kept up to date by the DAG" if cfg.manage_table else "managed elsewhere, only checked",
        max_delete_fraction=f"{cfg.max_delete_fraction:.0%}", delete_floor=cfg.delete_floor,
    )


def document_tasks(dag: Any, folder: str) -> None:
    """Give each task of `dag` that has a file `<folder>/<task id>.md` that file as its doc."""
    for task in dag.tasks:
        text = _text(f"{folder}/{task.task_id}.md")
        if text is not None:
            task.doc_md = text
