"""Fixtures of the import DAG's tests.

Tests of this folder share exported backups (module fixtures) to keep the suite short, so
they use the session's `emulator`, reset once per module, and each test restores into pools
of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from import_runs import ROLE_ARN


@pytest.fixture(scope="session", autouse=True)
def import_role(emulator) -> Iterator[None]:
    """The Airflow Variable the csv_import strategy needs."""
    os.environ["AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN"] = ROLE_ARN
    yield
    os.environ.pop("AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN", None)
