"""What the scenarios share: triggering the DAGs on the deployment, choosing a worker to kill,
and the assertions on what ended up in the pool, the table and the request log."""

from __future__ import annotations

import time
from typing import Any

from airflow.providers.amazon.aws.utils.identifiers import generate_uuid

from backup_state import backup_state, pool_state, table_items
from budget import busiest_second, max_calls_in_any_second
from deployment import BUCKET, POOLS, REGION, Deployment
from stack import CeleryStack, Component


def run_calls(records: list[dict[str, Any]], dag_id: str) -> list[dict[str, Any]]:
    """The Cognito calls a DAG's tasks made: the AWS hooks name the DAG (hashed) in the User-Agent."""
    key = generate_uuid(dag_id)
    return [r for r in records if r.get("service") == "cognito-idp" and (r.get("agent") or {}).get("dag_key") == key]


def assert_budget(calls: list[dict[str, Any]], tps: int) -> int:
    """No second of the run, retries included, holds more than the budget plus one call of jitter."""
    assert calls, "the run made no Cognito call"
    busiest = max_calls_in_any_second(calls)
    assert busiest <= tps + 1, busiest_second(calls)
    return busiest


def export(d: Deployment, name: str, timeout: float = 900) -> str:
    """Run `cognito_export_<name>` to its end, undisturbed; returns the run id."""
    dag_id = POOLS[name].dag_id
    run_id = d.stack.trigger(dag_id)
    state = d.stack.wait_for_run(dag_id, run_id, timeout)
    assert state == "success", d.stack.task_states(dag_id, run_id)
    return run_id


def assert_export_exact(d: Deployment, name: str) -> dict[str, Any]:
    """The table holds the pool's users, attributes, groups and memberships, nothing more or less."""
    state = backup_state(table_items(REGION, POOLS[name].table))
    assert state == pool_state(REGION, d.pool_ids[name])
    return {"users": len(state["users"]), "groups": len(state["groups"]), "memberships": len(state["memberships"])}


def restore_conf(name: str, tps: int, topic: str) -> dict[str, Any]:
    """A csv_import restore of `name`'s backup into a pool the run creates."""
    return {"backup_table": POOLS[name].table, "table_region": REGION, "create_target_pool": True,
            "cognito_tps": tps, "report_s3_uri": f"s3://{BUCKET}/{name}", "notification_topic_arn": topic}


def running_on_one_worker(stack: CeleryStack, dag_id: str, run_id: str, task_id: str, at_least: int = 1,
                          timeout: float = 300) -> tuple[Component, list[dict[str, Any]]]:
    """Wait until `at_least` tries of `task_id` run on one worker; returns it and those task instances."""

    def found() -> tuple[Component, list[dict[str, Any]]] | None:
        running = [ti for ti in stack.task_instances(dag_id, run_id)
                   if ti["task_id"] == task_id and ti["state"] == "running" and ti["pid"]]
        for worker in stack.workers:
            pids = {p.pid for p in worker.tree()}
            mine = [ti for ti in running if ti["pid"] in pids]
            if len(mine) >= at_least:
                return worker, mine
        return None

    return stack.wait_until(found, timeout, f"{at_least} tries of {task_id} never ran on one worker", every=0.5)


def wait_for_calls(d: Deployment, since: int, operation: str, count: int, timeout: float = 300) -> None:
    """Wait until the emulator has answered `count` calls of `operation` since the mark `since`."""
    d.stack.wait_until(
        lambda: sum(r["operation"] == operation for r in d.emulator.requests(since=since)) >= count,
        timeout, f"fewer than {count} {operation} calls", every=0.5,
    )


def kill_and_replace(stack: CeleryStack, worker: Component) -> Component:
    """SIGKILL a worker's processes (its host is gone) and start a new worker in its place."""
    killed = stack.kill(worker)
    assert killed and worker.process.poll() is not None
    return stack.add_worker()


def retried(stack: CeleryStack, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> list[int]:
    """The try numbers that finished the given task instances (each more than 1: retried)."""
    now = {(ti["task_id"], ti["map_index"]): ti for ti in stack.task_instances(dag_id, run_id)}
    finished = [now[(ti["task_id"], ti["map_index"])] for ti in tis]
    assert all(ti["state"] == "success" for ti in finished), finished
    return [ti["try_number"] for ti in finished]


def elapsed(started: float) -> float:
    return round(time.monotonic() - started, 1)
