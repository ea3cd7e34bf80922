"""Running the project's DAGs in tests: write a backups file, then `dag.test()`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_backups_config(path: Path, *entries: dict[str, Any]) -> Path:
    """Write a backups configuration and make the export DAG file read it."""
    path.write_text(yaml.safe_dump({"backups": list(entries)}))
    os.environ["COGNITO_BACKUP_CONFIG"] = str(path)
    return path


def dag_bag(folder: Path = ROOT / "dags"):
    """Parse `folder` (a DAG file or a folder) as the scheduler would."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x and 3.0
        from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def load_dag(dag_id: str):
    """Parse the DAGs folder as the scheduler would and return one DAG."""
    bag = dag_bag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def run_dag(dag_id: str, conf: dict[str, Any] | None = None):
    """Run every task of a new DAG run in this process; return the finished DagRun."""
    dag = load_dag(dag_id)
    _activate_assets(dag)
    return dag.test(run_conf=conf)


def _activate_assets(dag) -> None:
    """Register the DAG's outlet assets as the DAG processor would (dag.test() does not)."""
    from sqlalchemy import delete, or_, select

    try:
        from airflow.models.asset import AssetActive, AssetModel
    except ImportError:  # Airflow 2.x: datasets, which have no active state
        return
    from airflow.utils.session import create_session

    outlets = {(o.name, o.uri) for task in dag.tasks for o in getattr(task, "outlets", [])}
    with create_session() as session:
        for name, uri in outlets:
            model = session.scalar(select(AssetModel).where(AssetModel.name == name, AssetModel.uri == uri))
            if model is None:
                model = AssetModel(name=name, uri=uri)
                session.add(model)
                session.flush()
            session.execute(delete(AssetActive).where(or_(AssetActive.name == name, AssetActive.uri == uri)))
            session.add(AssetActive.for_asset(model))


def xcom_model():
    """The XCom table's ORM model, and how to read the value of one of its rows."""
    try:
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2.x: loading a row deserializes its value
        from airflow.models.xcom import XCom

        return XCom, lambda row: row.value
    return XComModel, XComModel.deserialize_value


def task_states(dag_run) -> dict[str, str]:
    """`task_id[map_index]` -> final state, for the run's task instances."""
    return {
        f"{ti.task_id}" + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state)
        for ti in dag_run.get_task_instances()
    }
