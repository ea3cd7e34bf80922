"""The backups file: every bad value is refused with the entry and the key named."""

from __future__ import annotations

import pytest
import yaml

from cognito_backup.config import ConfigError, load_backups

GOOD = {"name": "main", "user_pool_id": "eu-west-1_AbC123", "region": "eu-west-1", "table_name": "cognito-backup"}


def load(tmp_path, *entries):
    path = tmp_path / "backups.yaml"
    path.write_text(yaml.safe_dump({"backups": list(entries)}))
    return load_backups(path)


def test_defaults(tmp_path):
    [cfg] = load(tmp_path, GOOD)
    assert cfg.dag_id == "cognito_export_main"
    assert (cfg.schedule, cfg.cognito_tps, cfg.notify, cfg.manage_table, cfg.backup_regions) == (
        "@daily", 10, "errors", True, ())
    assert cfg.user_shards is None and cfg.membership_chunks is None  # from the pool's size at run time
    assert (cfg.max_delete_fraction, cfg.delete_floor) == (0.05, 10)


def test_the_example_file_is_valid(monkeypatch):
    monkeypatch.delenv("COGNITO_BACKUP_CONFIG", raising=False)
    assert load_backups()  # the default: include/config/backups.yaml


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"colour": "blue"}, "colour"),
        ({"user_pool_id": None}, "user_pool_id"),
        ({"user_pool_id": "not-a-pool"}, "user_pool_id"),
        ({"user_pool_id": "us-east-1_AbC123"}, "user_pool_id"),
        ({"cognito_tps": 0.5}, "cognito_tps"),
        ({"name": "Main-Pool"}, "name"),
        ({"notify": "sometimes"}, "notify"),
        ({"backup_regions": ["eu-west-1"]}, "backup_regions"),
        ({"user_shards": 10}, "user_shards"),
        ({"notification_topic_arn": "topic"}, "notification_topic_arn"),
        ({"max_delete_fraction": 5}, "max_delete_fraction"),
        ({"max_delete_fraction": "5%"}, "max_delete_fraction"),
        ({"delete_floor": -1}, "delete_floor"),
        ({"delete_floor": 2.5}, "delete_floor"),
        # Each of these once loaded and then failed DAG parsing deep inside Airflow or Python.
        ({"name": "n" * 236}, "name"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "@fortnightly"}, "schedule"),
        ({"retry_delay_seconds": 10**20}, "retry_delay_seconds"),
        ({"cognito_tps": float("inf")}, "cognito_tps"),
        ({"user_shards": 16.0}, "user_shards"),
        ({"backup_regions": ["us-west-2", "us-west-2"]}, "backup_regions"),
    ],
)
def test_bad_entries_name_entry_and_key(tmp_path, change, key):
    entry = {**GOOD, **change}
    if change.get(key, "") is None:
        del entry[key]
    with pytest.raises(ConfigError, match=rf"entry #1.*'{key}'"):
        load(tmp_path, entry)


@pytest.mark.parametrize("schedule", [None, "@once", "@continuous", "@hourly", "@daily", "0 3 * * *", "*/15 * * * 1-5"])
def test_schedules_airflow_accepts_load(tmp_path, schedule):
    [cfg] = load(tmp_path, {**GOOD, "schedule": schedule})
    assert cfg.schedule == schedule


def test_duplicate_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="more than one entry"):
        load(tmp_path, GOOD, GOOD)


def test_a_budget_per_quota_category(tmp_path):
    [cfg] = load(tmp_path, {**GOOD, "cognito_quota_share": 0.5, "cognito_quotas": {"UserList": 60},
                            "cognito_category_tps": {"UserPoolRead": 2}})
    assert (cfg.cognito_tps, cfg.cognito_quota_share) == (None, 0.5)
    assert (cfg.cognito_quotas, cfg.cognito_category_tps) == ({"UserList": 60}, {"UserPoolRead": 2})
    [capped] = load(tmp_path, {**GOOD, "cognito_quota_share": 1, "cognito_tps": 20})
    assert (capped.cognito_tps, capped.cognito_quota_share) == (20, 1)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"cognito_quota_share": 2}, "cognito_quota_share"),
        ({"cognito_quota_share": "1/2"}, "cognito_quota_share"),
        ({"cognito_quotas": {"UserList": 60}}, "cognito_quotas"),
        ({"cognito_quota_share": 1, "cognito_quotas": {"Users": 60}}, "cognito_quotas"),
        ({"cognito_quota_share": 1, "cognito_category_tps": "UserList=5"}, "cognito_category_tps"),
    ],
)
def test_bad_budget_entries_name_entry_and_key(tmp_path, change, key):
    with pytest.raises(ConfigError, match=rf"entry #1.*'{key}'"):
        load(tmp_path, {**GOOD, **change})
