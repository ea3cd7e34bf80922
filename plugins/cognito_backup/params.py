"""Airflow Params whose schemas say they are JSON Schema draft 7."""

from __future__ import annotations

from typing import Any

from cognito_backup.compat import Param

# Airflow checks each Param's schema against its metaschema whenever it serialises a task, for each
# task of a DAG at every parse (every 30 s in the dag-processor). Without "$schema", jsonschema takes
# draft 2020-12's metaschema, about three times as slow to check against as draft 7's; the DAGs'
# schemas use nothing later than draft 7.
DRAFT_7 = "http://json-schema.org/draft-07/schema#"


def param(*default: Any, **schema: Any) -> Param:
    """An Airflow Param (default, then its JSON schema's keywords) whose schema is marked as draft 7."""
    return Param(*default, **schema, **{"$schema": DRAFT_7})


def share_dag_params(dag: Any) -> None:
    """Leave a DAG's params to the DAG: its tasks keep only params of their own.

    Airflow gives each task a copy of its DAG's params, and the dag-processor checks every copy
    against its schema and serialises it at each parse (every 30 s by default): the import DAG's 18
    copies of its 17 params were 136 KB of its 178 KB serialised, and nine tenths of the CPU its
    serialisation took. At run time a task's params are its DAG's updated with its own
    (`process_params`, in every Airflow this package supports), so a copy adds nothing.
    """
    for task in dag.tasks:
        copies = [key for key, own in task.params.items()
                  if key in dag.params and _same(own, dag.params.get_param(key))]
        for key in copies:
            del task.params[key]


def _same(a: Param, b: Param) -> bool:
    # A copy of a Param without a default holds a copy of Airflow's NOTSET, which is not equal to it.
    unset = type(a.value).__name__ == type(b.value).__name__ == "ArgNotSet"
    return (unset or a.value == b.value) and (a.schema, a.description) == (b.schema, b.description)
