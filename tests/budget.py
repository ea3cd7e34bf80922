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


def busiest_second(records: list[dict[str, Any]]) -> str:
    """The calls of the busiest one-second window: operation, outcome and ms into the window,
    with the gap before the window (an assertion message that explains a burst)."""
    ordered = sorted(records, key=lambda r: r["time"])
    times = [r["time"] for r in ordered]
    if not times:
        return "no calls"
    start = max(range(len(times)), key=lambda i: bisect_left(times, times[i] + 1.0) - i)
    window = ordered[start:bisect_left(times, times[start] + 1.0)]
    before = f"after a {(times[start] - times[start - 1]) * 1000:.0f} ms gap" if start else "from the first call"
    calls = ", ".join(
        f"{r.get('operation')}/{r.get('outcome')}@{(r['time'] - times[start]) * 1000:.0f}ms" for r in window
    )
    return f"{len(window)} calls in 1 s {before}: {calls}"
