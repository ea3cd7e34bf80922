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


def by_caller(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Calls by the operator that made them (the caller its hook names in the user agent)."""
    callers: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        callers.setdefault((r.get("agent") or {}).get("caller") or "unknown", []).append(r)
    return callers


def utilisation(records: list[dict[str, Any]], rate: float) -> float:
    """Calls made over those a budget of `rate` allows from the first to the last of them."""
    times = sorted(r["time"] for r in records)
    return (len(times) - 1) / ((times[-1] - times[0]) * rate)


def schedule_keys(region: str, table: str, dag_id: str, run_id: str) -> set[str]:
    """The call-budget schedules a DAG run kept in its backup table: `<run>` and `<run>#<category>`."""
    import boto3

    prefix = f"rate-limit#{dag_id}/{run_id}"
    pages = boto3.client("dynamodb", region_name=region).get_paginator("scan").paginate(TableName=table)
    found = {i["id"]["S"] for page in pages for i in page["Items"] if i["id"]["S"].startswith(prefix)}
    return {key.removeprefix(prefix) or "<run>" for key in found}


def assert_category_budgets(calls: list[dict[str, Any]], budgets: dict[str, float], cap: float | None = None) -> None:
    """In no one-second window more calls of a category than its budget (one of jitter allowed),
    nor more calls of all categories together than `cap`."""
    categories: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        categories.setdefault(c["category"], []).append(c)
    for category, made in categories.items():
        assert max_calls_in_any_second(made) <= budgets[category] + 1, (category, busiest_second(made))
    if cap is not None:
        assert max_calls_in_any_second(calls) <= cap + 1, busiest_second(calls)
