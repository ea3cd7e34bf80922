"""The few imports that differ between Airflow 2.x and 3.x."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG, Asset, BaseOperator, Param, TaskGroup, chain
    from airflow.sdk.exceptions import AirflowFailException

    AIRFLOW_3 = True
except ImportError:  # Airflow 2.x
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]
    from airflow.models import DAG, BaseOperator  # type: ignore[no-redef]
    from airflow.models.baseoperator import chain  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]
    from airflow.utils.task_group import TaskGroup  # type: ignore[no-redef]

    AIRFLOW_3 = False

__all__ = ["AIRFLOW_3", "DAG", "Asset", "AirflowFailException", "BaseOperator", "Param", "TaskGroup", "chain"]
