"""Import params sent through Airflow's REST API: invalid values are refused by the DAG's param
schema (HTTP 400) and no run starts; values valid one by one but not together make a run that
fails its first task. Neither makes any AWS call."""

from __future__ import annotations

import time

import pytest

from deployment import POOLS, REGION, Deployment

IMPORT = "cognito_import"
VALID = {"backup_table": POOLS["restore"].table, "table_region": REGION, "create_target_pool": True}


def runs_of(d: Deployment) -> int:
    status, body = d.stack.api("GET", f"/api/v2/dags/{IMPORT}/dagRuns?limit=1")
    assert status == 200, body
    return body["total_entries"]


@pytest.mark.parametrize(("change", "param"), [
    ({"target_user_pool_id": "not a pool id", "create_target_pool": False}, "target_user_pool_id"),
    ({"strategy": "bulk_load"}, "strategy"),
    ({"cognito_tps": 0}, "cognito_tps"),
    ({"cognito_tps": "fast"}, "cognito_tps"),
    ({"restore_point": "yesterday"}, "restore_point"),
    ({"target_mode": "everything"}, "target_mode"),
    ({"table_region": "mars-1"}, "table_region"),
    ({"backup_table": "a"}, "backup_table"),
    ({"report_s3_uri": "https://example.com/reports"}, "report_s3_uri"),
    ({"legacy_sub_attribute": "sub"}, "legacy_sub_attribute"),
    ({"dry_run": "maybe"}, "dry_run"),
])
def test_an_invalid_param_is_refused_with_http_400_before_any_run(deployment: Deployment, change, param):
    d = deployment
    before, mark = runs_of(d), d.emulator.mark()
    status, body = d.stack.api("POST", f"/api/v2/dags/{IMPORT}/dagRuns",
                               {"logical_date": None, "conf": {**VALID, **change}})
    assert status == 400, body
    assert param in str(body["detail"])
    assert runs_of(d) == before
    assert d.emulator.requests(since=mark) == []


def test_params_valid_alone_but_not_together_fail_the_first_task_without_an_aws_call(deployment: Deployment):
    d = deployment
    mark = d.emulator.mark()
    conf = {**VALID, "target_user_pool_id": f"{REGION}_AbC123"}  # and create_target_pool: one or the other
    status, body = d.stack.api("POST", f"/api/v2/dags/{IMPORT}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 200, body
    run_id = body["dag_run_id"]
    assert d.stack.wait_for_run(IMPORT, run_id, timeout=300) == "failed"
    states = d.stack.task_states(IMPORT, run_id)
    assert states["check_params"] == "failed" and states["point_in_time"] == "upstream_failed"
    time.sleep(2)  # anything a task might still send
    assert d.emulator.requests(since=mark) == []
