"""The few imports that differ between Airflow 2.x and 3.x."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG, Asset, BaseOperator, Param, TaskGroup, chain

    AIRFLOW_3 = True
except ImportError:  # Airflow 2.x
    from airflow.datasets import Dataset
    from airflow.models import DAG, BaseOperator  # type: ignore[no-redef]
    from airflow.models.baseoperator import chain  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]
    from airflow.utils.task_group import TaskGroup  # type: ignore[no-redef]

    def Asset(*, name: str, uri: str) -> Dataset:  # type: ignore[no-redef]  # noqa: N802
        """An Airflow 2 dataset: it has a URI and no name."""
        return Dataset(uri)

    AIRFLOW_3 = False

try:  # the Task SDK's, in the Airflow 3 releases that have it (airflow.exceptions' is deprecated there)
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2.x, 3.0 and 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

try:  # the Task SDK's metrics, where it has them (airflow.stats is a deprecated shim there)
    from airflow.sdk.observability.stats import Stats
except ImportError:  # Airflow 2.x, 3.0 and 3.1
    from airflow.stats import Stats  # type: ignore[no-redef]

try:  # the Task SDK's, where it has one
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 2.x and the first 3.x releases
    from airflow.configuration import conf  # type: ignore[no-redef]

__all__ = ["AIRFLOW_3", "DAG", "Asset", "AirflowFailException", "BaseOperator", "Param", "Stats", "TaskGroup", "chain", "conf"]
