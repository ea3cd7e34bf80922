"""`share_dag_params`: a task keeps the params of its own, and loses only the copies of its DAG's."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk.definitions.param import process_params

from cognito_backup.compat import DAG
from cognito_backup.params import param, share_dag_params


def test_only_copies_of_the_dags_params_are_dropped():
    with DAG("shared_params", schedule=None, start_date=datetime(2026, 1, 1),
             params={"limit": param(5, type="integer"), "table": param(type="string")}) as dag:
        plain = EmptyOperator(task_id="plain")
        overriding = EmptyOperator(task_id="overriding", params={"limit": param(7, type="integer")})
        adding = EmptyOperator(task_id="adding", params={"extra": param("x", type="string")})
    assert len(plain.params) == 2  # Airflow's copy of the DAG's

    share_dag_params(dag)

    assert not plain.params
    assert set(overriding.params) == {"limit"} and overriding.params["limit"] == 7
    assert set(adding.params) == {"extra"}
    run_conf = {"table": "t1"}
    assert process_params(dag, plain, run_conf, suppress_exception=False) == {"limit": 5, "table": "t1"}
    assert process_params(dag, overriding, run_conf, suppress_exception=False) == {"limit": 7, "table": "t1"}
    assert process_params(dag, adding, run_conf, suppress_exception=False) == {"limit": 5, "table": "t1", "extra": "x"}
