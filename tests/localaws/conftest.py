"""Fixtures for the emulator's own tests: one server for the session, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localaws.testing import Emulator

REGION = "us-east-1"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator.start() as running:
        yield running


@pytest.fixture
def aws(emulator: Emulator) -> Emulator:
    """The shared emulator, emptied and back to its start settings."""
    emulator.reset()
    return emulator


@pytest.fixture
def cognito(aws: Emulator) -> Any:
    return aws.client("cognito-idp", REGION, retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def dynamodb(aws: Emulator) -> Any:
    return aws.client("dynamodb", REGION, retries={"mode": "standard", "total_max_attempts": 1})
