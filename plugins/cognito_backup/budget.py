"""A run's Cognito call budget: one for all calls, or one per quota category.

Cognito counts its rate quotas per category, each on its own (`quotas`), per account and Region,
shared with every live pool there. Two ways to budget a run:

- `cognito_tps` alone (default 10): one budget for every call of the run, one shared schedule
  of slots (`rate_limit`), keyed by DAG run.
- `cognito_quota_share` (0 < share <= 1): each category's budget is that share of its quota
  (`cognito_quotas` overrides AWS's defaults where they were raised), within an optional cap of
  its own (`cognito_category_tps`). Each category has its own shared schedule (`<run>#<category>`)
  that only its calls claim, so calls of different categories never queue behind each other.
  A `cognito_tps` given as well caps all calls of the run together: a call then holds a slot of
  its category's schedule and one of the overall schedule.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cognito_backup.quotas import CATEGORIES, DEFAULT_QUOTAS, category_of
from cognito_backup.rate_limit import Held, RateLimiter, SlotSchedule, acquire_both, pace

if TYPE_CHECKING:
    from botocore.client import BaseClient

DEFAULT_TPS = 10.0


class BudgetError(ValueError):
    """Budget settings that cannot be used; `key` names the setting."""

    def __init__(self, key: str, why: str) -> None:
        self.key = key
        self.why = why
        super().__init__(f"{key} {why}")


def _unset(value: Any) -> bool:
    # Templated fields render an unset param as "None" (or "null" through `tojson`).
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "null"))


def _number(key: str, value: Any) -> float | None:
    if _unset(value):
        return None
    if isinstance(value, bool):
        raise BudgetError(key, "must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BudgetError(key, "must be a number") from None


def _per_category(key: str, value: Any) -> dict[str, float]:
    if _unset(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BudgetError(key, "must be a mapping of quota category to calls per second") from None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BudgetError(key, "must be a mapping of quota category to calls per second")
    rates = {}
    for category, rate in value.items():
        if category not in DEFAULT_QUOTAS:
            raise BudgetError(key, f"names an unknown quota category {category!r} (known: {', '.join(CATEGORIES)})")
        number = _number(key, rate)
        if number is None or number <= 0:
            raise BudgetError(key, f"must give {category} a positive number of calls per second")
        rates[category] = number
    return rates


@dataclass(frozen=True)
class Budget:
    """The budget of one run.

    :param tps: calls per second for all calls of the run together; None: no overall cap.
    :param share: the share of each category's quota; None: `tps` is the only budget.
    :param quotas: quotas per category where they differ from AWS's defaults.
    :param category_tps: caps per category, below the share of its quota.
    """

    tps: float | None = DEFAULT_TPS
    share: float | None = None
    quotas: Mapping[str, float] = field(default_factory=dict)
    category_tps: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, tps: Any = None, share: Any = None, quotas: Any = None, category_tps: Any = None) -> Budget:
        """The budget of these settings (numbers, mappings, or their templated renderings); checks them."""
        tps_value = _number("cognito_tps", tps)
        share_value = _number("cognito_quota_share", share)
        quota_values = _per_category("cognito_quotas", quotas)
        caps = _per_category("cognito_category_tps", category_tps)
        if tps_value is not None and tps_value < 1:
            raise BudgetError("cognito_tps", "must be a number of calls per second, at least 1")
        if share_value is None:
            for key, given in (("cognito_quotas", quota_values), ("cognito_category_tps", caps)):
                if given:
                    raise BudgetError(key, "applies to budgets per quota category: set cognito_quota_share too")
            return cls(tps=DEFAULT_TPS if tps_value is None else tps_value)
        if not 0 < share_value <= 1:
            raise BudgetError("cognito_quota_share", "must be more than 0 and at most 1 (a share of each quota)")
        return cls(tps=tps_value, share=share_value, quotas=quota_values, category_tps=caps)

    @property
    def by_category(self) -> bool:
        return self.share is not None

    def rate(self, category: str) -> float:
        """A category's own budget: its share of the quota, within its cap (the overall cap aside)."""
        rate = (self.share or 0) * self.quotas.get(category, DEFAULT_QUOTAS[category])
        cap = self.category_tps.get(category)
        return rate if cap is None else min(rate, cap)

    def rate_of(self, categories: Iterable[str]) -> float:
        """The most calls per second a step making calls of these categories may make."""
        if not self.by_category:
            return float(self.tps or DEFAULT_TPS)
        total = sum(self.rate(c) for c in set(categories))
        return total if self.tps is None else min(total, self.tps)

    def describe(self) -> str:
        """The budget in words (logs, the DAG's page)."""
        if not self.by_category:
            return f"{self.tps:g} calls a second for the whole run"
        categories = ", ".join(f"{c} {self.rate(c):g}" for c in CATEGORIES)
        cap = f"; at most {self.tps:g} calls a second in all" if self.tps is not None else ""
        return f"{self.share:g} of each quota category's quota, in calls a second: {categories}{cap}"


class CallBudget:
    """Paces a Cognito client's calls, every HTTP attempt: each by the budget of its quota category
    and by the overall cap, or by the one budget of all calls.

    :param budget: the run's budget.
    :param schedule: the slot schedule of a category, or the overall one (None).
    """

    def __init__(self, budget: Budget, schedule: Callable[[str | None], SlotSchedule]) -> None:
        self.budget = budget
        self._schedule = schedule
        self._limiters: dict[str | None, RateLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, category: str | None) -> RateLimiter:
        """The limiter of a category (None: of the overall budget), made on first use."""
        with self._lock:
            found = self._limiters.get(category)
            if found is None:
                rate = float(self.budget.tps) if category is None else self.budget.rate(category)
                found = self._limiters[category] = RateLimiter(rate, self._schedule(category))
            return found

    def acquire(self, operation: str) -> Held:
        """Block until a call of `operation` may start; return the slots it holds."""
        if not self.budget.by_category:
            return self.limiter(None).acquire()
        category = category_of(operation)
        cap = self.budget.tps
        if cap is None:
            return self.limiter(category).acquire()
        if cap <= self.budget.rate(category):
            # No window holds more calls of the category than of all: the overall cap keeps it in budget.
            return self.limiter(None).acquire()
        return acquire_both(self.limiter(category), self.limiter(None))

    def attach(self, client: BaseClient) -> BaseClient:
        """Pace every HTTP attempt `client` makes, retries included."""
        return pace(client, self.acquire)

    def close(self) -> None:
        """Hand slots this process will not use back to the schedules."""
        for limiter in list(self._limiters.values()):
            limiter.close()

    def usage(self) -> dict[str, tuple[int, int, int, int]]:
        """Calls, dropped slots, of those the ones woken late for, and calls sent late, by category
        ("all" for the overall budget)."""
        return {category or "all": (limiter.calls, limiter.dropped, limiter.woken_late, limiter.late_sends)
                for category, limiter in self._limiters.items()}


__all__ = ["DEFAULT_TPS", "Budget", "BudgetError", "CallBudget"]
