"""Any backups file, generated: it loads and makes its DAGs, or it fails parsing of the export DAG
file with the ConfigError that names the entry and the key (the file, for a file-level problem),
never with an error from deep inside Airflow or Python."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_runs import dag_bag
from cognito_backup.config import ConfigError, load_backups

ROOT = Path(__file__).resolve().parents[2]
EXPORT_DAG_FILE = ROOT / "dags" / "cognito_export.py"
KEYS = ("name", "user_pool_id", "region", "table_name", "backup_regions", "schedule", "cognito_tps",
        "notification_topic_arn", "notify", "manage_table", "user_shards", "membership_chunks",
        "max_delete_fraction", "delete_floor", "aws_conn_id", "retries", "retry_delay_seconds")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
# An entry-level message names the entry and the key; a file-level one, the file.
ENTRY_MESSAGE = re.compile(r"^backups entry #\d+( \(.*\))?: (key '.*' .+|must be a mapping, got \w+)$", re.S)
FILE_MESSAGE = re.compile(r"^(backups configuration .+|cannot read backups configuration .+)", re.S)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["", " ", "0", "true", "null", "@daily", "16", "1e400"]),
)
any_value = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def plausible(key: str) -> st.SearchStrategy:
    """Values near what the key takes: mostly in range, with its edges and long strings."""
    return {
        "name": st.from_regex(r"[a-z0-9_]{1,300}", fullmatch=True),
        "table_name": st.from_regex(r"[a-zA-Z0-9_.-]{1,300}", fullmatch=True),
        "backup_regions": st.lists(st.sampled_from(REGIONS), max_size=3),
        "schedule": st.one_of(st.sampled_from(["@daily", "@hourly", "@once", "@continuous", "0 3 * * *",
                                               "*/5 * * * *", "61 * * * *", "bogus", "", "@fortnightly"]),
                              st.text(max_size=20)),
        "cognito_tps": st.one_of(st.integers(1, 1000), st.floats(1, 1e6),
                                 st.sampled_from([0, 0.5, -1, float("inf"), float("nan"), 1e308])),
        "notification_topic_arn": st.sampled_from([None, "arn:aws:sns:us-east-1:123456789012:topic",
                                                   "arn:aws:sns:eu-west-1:123456789012:ops-alerts", "topic"]),
        "notify": st.sampled_from(["errors", "all", "sometimes"]),
        "manage_table": st.booleans(),
        "user_shards": st.sampled_from([1, 16, 256, 4096, 16.0, 0, 10]),
        "membership_chunks": st.one_of(st.integers(1, 256), st.sampled_from([0, 257, 4.0])),
        "max_delete_fraction": st.one_of(st.floats(0, 1), st.sampled_from([-0.1, 1.5, float("nan"), "5%"])),
        "delete_floor": st.one_of(st.integers(0, 10**20), st.sampled_from([-1, 2.5])),
        "aws_conn_id": st.text(max_size=10),
        "retries": st.one_of(st.integers(0, 20), st.sampled_from([-1, 21, 10**6])),
        "retry_delay_seconds": st.one_of(st.integers(1, 10**20), st.sampled_from([0, -1, 2.5])),
    }[key]


@st.composite
def entries(draw, broken: bool = False) -> dict:
    """An entry with one to three keys set to values of their kind (most load); `broken`: one more
    change of any kind (a value of any type, a bad pool id, Region or name, a key missing, an
    unknown key)."""
    region = draw(st.sampled_from(REGIONS))
    pool = draw(st.from_regex(r"[0-9a-zA-Z]{1,12}", fullmatch=True))
    entry = {"name": draw(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True)), "user_pool_id": f"{region}_{pool}",
             "region": region, "table_name": "cognito-backup"}
    changed = draw(st.permutations(("name", "table_name", *KEYS[4:])))[: draw(st.integers(1, 3))]
    for key in changed:
        entry[key] = draw(plausible(key))
    if broken:
        change = draw(st.sampled_from(["value", "identity", "missing", "unknown"]))
        if change == "value":
            entry[draw(st.sampled_from(KEYS))] = draw(any_value)
        elif change == "identity":
            entry[draw(st.sampled_from(KEYS[:4]))] = draw(st.sampled_from(
                ["us-east-1_AbC123", "eu-west-1", "mars-1", "Main-Pool", "t", "not-a-pool"]))
        elif change == "missing":
            entry.pop(draw(st.sampled_from(KEYS)), None)
        else:
            entry[draw(st.text(max_size=10))] = draw(any_value)
    return entry


documents = st.one_of(
    st.lists(entries(), min_size=1, max_size=3).map(lambda found: {"backups": found}),
    st.lists(st.one_of(entries(), entries(broken=True), any_value), min_size=1, max_size=3)
      .map(lambda found: {"backups": found}),
    st.lists(entries(), min_size=1, max_size=2).map(lambda found: {"backups": found, "extra": 1}),
    any_value.map(lambda value: {"backups": value}),
    any_value,
)
texts = st.one_of(documents.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True)), st.text(max_size=80))


def outcome(path: Path) -> str | list[str]:
    """The DAG ids the file makes, or its ConfigError's message (any other error fails the test)."""
    try:
        return [f"cognito_export_{cfg.name}" for cfg in load_backups(path)]
    except ConfigError as error:
        message = str(error)
        assert ENTRY_MESSAGE.match(message) or FILE_MESSAGE.match(message), message
        return message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_a_generated_file_loads_or_is_refused_naming_entry_and_key(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "backups.yaml"
    path.write_text(text, encoding="utf-8")
    outcome(path)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True)))
def test_a_generated_file_makes_its_dags_or_fails_parsing_with_the_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "backups.yaml"
    path.write_text(text, encoding="utf-8")
    expected = outcome(path)
    saved = os.environ.get("COGNITO_BACKUP_CONFIG")
    os.environ["COGNITO_BACKUP_CONFIG"] = str(path)
    try:
        bag = dag_bag(EXPORT_DAG_FILE)
    finally:
        if saved is None:
            os.environ.pop("COGNITO_BACKUP_CONFIG")
        else:
            os.environ["COGNITO_BACKUP_CONFIG"] = saved
    if isinstance(expected, list):
        assert not bag.import_errors, bag.import_errors
        assert sorted(bag.dags) == sorted(expected)
    else:
        [error] = bag.import_errors.values()
        assert error.rstrip().endswith(f"ConfigError: {expected}"), error[-1500:]
