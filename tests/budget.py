"""Reading Cognito call rates off the emulator's request log."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any


def cognito_calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("service") == "cognito-idp"]


def max_calls_in_any_second(records: list[dict[str, Any]]) -> int:
    """The most calls that started within any one-second window."""
    times = sorted(r["time"] for r in records)
    return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
