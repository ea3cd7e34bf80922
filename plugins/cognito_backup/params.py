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
