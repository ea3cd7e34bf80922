"""Reading Cognito call rates off the emulator's request log."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any


def cognito_calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("service") == "cognito-idp"]


def _busiest_window(times: list[float]) -> tuple[int, int]:
    """Indexes [first, end) of the sorted `times` within the one-second window holding the most."""
    ends = [bisect_left(times, t + 1.0) for t in times]
    first = max(range(len(times)), key=lambda i: ends[i] - i)
    return first, ends[first]


def max_calls_in_any_second(records: list[dict[str, Any]]) -> int:
    """The most calls that started within any one-second window."""
    times = sorted(r["time"] for r in records)
    if not times:
        return 0
    first, end = _busiest_window(times)
    return end - first


def busiest_second(records: list[dict[str, Any]]) -> str:
    """The calls of the busiest one-second window: operation, outcome and ms into the window,
    with the gap before the window (an assertion message that explains a burst)."""
    ordered = sorted(records, key=lambda r: r["time"])
    times = [r["time"] for r in ordered]
    if not times:
        return "no calls"
    first, end = _busiest_window(times)
    before = f"after a {(times[first] - times[first - 1]) * 1000:.0f} ms gap" if first else "from the first call"
    calls = ", ".join(
        f"{r.get('operation')}/{r.get('outcome')}@{(r['time'] - times[first]) * 1000:.0f}ms" for r in ordered[first:end]
    )
    return f"{end - first} calls in 1 s {before}: {calls}"
