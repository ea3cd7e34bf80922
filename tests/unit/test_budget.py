"""Budget settings: one budget for all calls, or one per quota category; the quota table."""

from __future__ import annotations

import pytest

from cognito_backup import quotas
from cognito_backup.budget import Budget, BudgetError


def test_the_quota_table_is_the_emulators():
    from localaws import quotas as emulated

    assert quotas.DEFAULT_QUOTAS == emulated.RATES
    assert quotas.CATEGORY_BY_OPERATION == emulated.CATEGORY_BY_OPERATION
    for operation in ("ListUsers", "AdminCreateUser", "AdminAddUserToGroup", "ListUserPools"):
        assert quotas.category_of(operation) == emulated.category("cognito-idp", operation)


def test_without_a_share_one_budget_as_before():
    assert Budget.of() == Budget(tps=10)
    assert Budget.of(tps=25) == Budget(tps=25)
    # The import DAG's templated fields render unset params so.
    assert Budget.of("None", "None", "null", "null") == Budget(tps=10)
    assert Budget.of("25", "None", "null", "null").rate_of(["UserList"]) == 25


def test_a_share_of_each_quota_with_overrides_and_caps():
    budget = Budget.of(None, "0.5", '{"UserCreation": 100}', '{"UserList": 4}')
    assert budget.by_category and budget.tps is None
    assert budget.rate("UserCreation") == 50 and budget.rate("UserResourceUpdate") == 12.5
    assert budget.rate("UserList") == 4  # capped below its share (15)
    assert budget.rate_of(["UserCreation", "UserResourceUpdate"]) == 62.5
    capped = Budget.of(20, 0.5, {"UserCreation": 100})
    assert capped.tps == 20 and capped.rate_of(["UserCreation", "UserResourceUpdate"]) == 20


@pytest.mark.parametrize(("settings", "key"), [
    ({"share": 0}, "cognito_quota_share"),
    ({"share": 1.5}, "cognito_quota_share"),
    ({"share": "half"}, "cognito_quota_share"),
    ({"tps": 0.5}, "cognito_tps"),
    ({"quotas": {"UserCreation": 100}}, "cognito_quotas"),
    ({"category_tps": {"UserList": 5}}, "cognito_category_tps"),
    ({"share": 1, "quotas": {"UserCreate": 100}}, "cognito_quotas"),
    ({"share": 1, "category_tps": {"UserList": 0}}, "cognito_category_tps"),
    ({"share": 1, "category_tps": [5]}, "cognito_category_tps"),
])
def test_bad_settings_name_the_key(settings, key):
    with pytest.raises(BudgetError) as refused:
        Budget.of(**settings)
    assert refused.value.key == key
