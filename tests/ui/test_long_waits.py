"""Long waits hold no worker slot: with a triggerer running, as deployed (and in every setup this
project ships, none of which has the async AWS client), a task waiting on AWS is `deferred`
while it waits, and goes on when the wait ends."""

from __future__ import annotations

import json
import time

from cognito_backup.triggers.base import async_client_installed

IMPORT = "cognito_import"


def states_while_running(airflow, dag_id: str, run_id: str, task_id: str,
                         timeout: float = 600) -> tuple[list[str], set[str]]:
    """The task's states, polled until the run ends, and the triggers it deferred to (their
    classes); asserts the run succeeded."""
    seen: list[str] = []
    triggers: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = airflow.query(
            "SELECT ti.state, t.classpath FROM task_instance ti LEFT JOIN trigger t ON t.id = ti.trigger_id "
            "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = ?", dag_id, run_id, task_id)
        for state, classpath in rows:
            if state and (not seen or seen[-1] != state):
                seen.append(state)
            if classpath:
                triggers.add(classpath.rsplit(".", 1)[-1])
        if airflow.run_state(dag_id, run_id) in ("success", "failed"):
            assert airflow.run_state(dag_id, run_id) == "success", airflow.log_tail("scheduler")
            return seen, triggers
        time.sleep(0.3)
    raise TimeoutError(f"run {run_id} of {dag_id} did not finish")


def test_the_csv_import_jobs_wait_is_deferred_to_the_triggerer(airflow, emulator, exported, ui_backup):
    assert not async_client_installed()
    emulator.set_config(import_rate=4)  # 60 users: a job of some 15 s
    try:
        run_id = "waits_csv_job"
        conf = {"backup_table": ui_backup.table, "table_region": ui_backup.region, "create_target_pool": True,
                "cognito_tps": 50}
        airflow.cli("dags", "trigger", IMPORT, "--run-id", run_id, "--conf", json.dumps(conf))
        seen, triggers = states_while_running(airflow, IMPORT, run_id, "users.csv_job")
    finally:
        emulator.set_config(import_rate=20000)
    assert "deferred" in seen and seen[-1] == "success", seen
    assert "running" in seen  # it ran before and after the wait, and was deferred in between
    assert triggers == {"UserImportJobCompleteTrigger"}


def test_a_new_tables_replica_is_waited_for_in_the_triggerer(airflow, emulator, ui_backup):
    emulator.set_config(replica_delay=8)
    try:
        dag_id, run_id = f"{ui_backup.dag_id}_waits", "waits_replica"
        airflow.cli("dags", "unpause", dag_id)
        airflow.cli("dags", "trigger", dag_id, "--run-id", run_id)
        seen, triggers = states_while_running(airflow, dag_id, run_id, "prepare")
    finally:
        emulator.set_config(replica_delay=1)
    assert "deferred" in seen and seen[-1] == "success", seen
    assert triggers == {"TableActiveTrigger"}
