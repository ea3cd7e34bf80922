"""The deletion guard's decision, from counts alone."""

from __future__ import annotations

import pytest

from cognito_backup.export import guard


def totals(users=(0, 1000), groups=(0, 20), memberships=(0, 2000)) -> dict[str, int]:
    out = {}
    for kind, (gone, stored) in {"users": users, "groups": groups, "memberships": memberships}.items():
        out[f"{kind}_gone"], out[f"{kind}_stored"] = gone, stored
    return out


LIMITS = guard.Limits()  # the defaults: 5%, and always up to 10


@pytest.mark.parametrize("gone, applied", [(0, True), (40, True), (50, True), (51, False), (200, False)])
def test_users_deleted_out_of_a_thousand(gone, applied):
    decision = guard.decide(totals(users=(gone, 1000)), LIMITS)
    assert decision.apply is applied
    assert decision.held_back["users"] == (0 if applied else gone)


def test_the_floor_lets_small_pools_delete():
    assert guard.decide(totals(users=(10, 12)), LIMITS).apply
    assert not guard.decide(totals(users=(11, 12)), LIMITS).apply


def test_one_kind_over_its_limit_holds_back_every_kind():
    decision = guard.decide(totals(users=(3, 1000), groups=(1, 20), memberships=(400, 2000)), LIMITS)
    assert not decision.apply and decision.over == ["memberships"]
    assert decision.held_back == {"users": 3, "groups": 1, "memberships": 400}
    assert "400 of 2,000 memberships (20.0%)" in decision.describe(LIMITS)


def test_the_override_applies_what_is_over_the_limit():
    decision = guard.decide(totals(users=(200, 1000)), LIMITS, allow_mass_delete=True)
    assert decision.apply and decision.overridden and decision.held_back["users"] == 0
    assert not guard.decide(totals(users=(2, 1000)), LIMITS, allow_mass_delete=True).overridden


def test_configured_limits():
    assert guard.decide(totals(users=(200, 1000)), guard.Limits(max_fraction=0.25, floor=0)).apply
    assert not guard.decide(totals(users=(1, 1000)), guard.Limits(max_fraction=0, floor=0)).apply
