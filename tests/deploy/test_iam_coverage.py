"""The IAM policies of include/iam/ grant the DAGs exactly what they use.

The `after_dag_runs` tests run last in the session (tests/conftest.py orders them) and read the
session's request log, in which the emulator notes who made each call (`agent`: what Airflow's
AWS hooks put in the User-Agent, `Caller/<class>` and `DagRunKey/<hashed DAG id>`).

A call is the DAGs' when it came through an Airflow hook while one of this session's DAG runs was
going on (the runs whose tasks this process ran), and that run's DAG is the one the call's
DagRunKey names. Everything else is test code: seeding pools with boto3, reading tables back, a
hook a test uses on its own (which carries the DagRunKey of the last run, as Airflow leaves its
context in the environment; other sessions may run the same DAGs at the same time). The policy it
counts for is the caller's: an operator of `cognito_backup.export` -> export, of
`cognito_backup.restore` -> import. Where the hook's client was first used outside an operator's
`execute` (worker threads, notifier callbacks, a deferred task's resumption), Airflow names the
caller "Unknown": then the DAG decides. The CSV upload to an import job's pre-signed URL is no
IAM action, and not an Airflow hook call either.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.data import AdditionalSpecs
from cfnlint.decode import decode
from cfnlint.helpers import load_resource

from cognito_backup import items, metrics

ROOT = Path(__file__).resolve().parents[2]
POLICIES = {"export": ROOT / "include" / "iam" / "export-policy.yaml", "import": ROOT / "include" / "iam" / "import-policy.yaml"}

# Request-log service (SigV4 signing name) -> IAM action prefix. A service missing here fails the
# test, so that a DAG calling a new service is noticed.
IAM_PREFIX = {"cognito-idp": "cognito-idp", "dynamodb": "dynamodb", "s3": "s3", "sns": "sns", "monitoring": "cloudwatch"}
# Operations that IAM authorises under another action's name.
AUTHORISED_AS = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
}
# Actions IAM checks besides the operation's own, for the operation as our code calls it.
ALSO_REQUIRES = {
    "cognito-idp:CreateUserImportJob": {"iam:PassRole"},  # its CloudWatchLogsRoleArn
    "cognito-idp:CreateGroup": {"iam:PassRole"},  # a group's RoleArn
    "cognito-idp:UpdateGroup": {"iam:PassRole"},
    "dynamodb:CreateTable": {"dynamodb:TagResource"},  # created with Tags
    # Adding a replica; in the replica's Region the data actions too, granted by name already.
    "dynamodb:UpdateTable": {"dynamodb:CreateTableReplica", "iam:CreateServiceLinkedRole"},
    # Restoring a table to a point in time: item reads and writes on the new table (DynamoDB
    # developer guide, "Using IAM with DynamoDB backup and restore").
    "dynamodb:RestoreTableToPointInTime": {
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query",
        "dynamodb:Scan", "dynamodb:BatchWriteItem",
    },
}
# Actions whose optional resource type we do not name: AWS documents them granted on "*" and
# scoped by this condition key instead.
SCOPED_BY_CONDITION = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
# Actions the code issues on paths no end-to-end test takes, so granted without being seen used.
# An entry that the tests start using fails the test: remove it then.
NOT_EXERCISED = {
    "export": {},
    "import": {
        # restore/admin_users.py: AdminCreateUser found the user exists, though no listing saw it.
        "cognito-idp:AdminGetUser": "a user created by something else while the run was going on",
        # restore/operators.py RestoreGroupsOperator: a group of that name with other settings.
        "cognito-idp:UpdateGroup": "a re-run after a restored group was edited",
    },
}


# --- the policies ---------------------------------------------------------------------------


def true_branch(value: Any) -> Any:
    """What a value is when its `Fn::If` conditions hold (the tests run with every option on)."""
    while isinstance(value, dict) and "Fn::If" in value:
        value = value["Fn::If"][1]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy: str) -> list[dict[str, Any]]:
    template, problems = decode(str(POLICIES[policy]))
    assert not problems, [str(p) for p in problems]
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            found += [true_branch(s) for s in resource["Properties"]["PolicyDocument"]["Statement"]]
    assert found, f"{POLICIES[policy].name} declares no AWS::IAM::ManagedPolicy"
    return found


def granted(policy: str) -> set[str]:
    return {action for statement in statements(policy) for action in as_list(statement["Action"])}


# --- the DAGs' calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    dag_id: str
    start: float
    end: float


def dag_runs(pid: int | None = None) -> list[Run]:
    """The DAG runs of this process (`dag.test()` runs their tasks here, and records its pid on
    them); the metadata database may hold other processes' runs, even at the same time."""
    from sqlalchemy import exists, select

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    ran_here = exists().where(TaskInstance.dag_id == DagRun.dag_id, TaskInstance.run_id == DagRun.run_id,
                              TaskInstance.pid == (pid or os.getpid()))
    with create_session() as session:
        rows = session.execute(select(DagRun.dag_id, DagRun.start_date, DagRun.end_date).where(ran_here)).all()
    return [Run(dag_id, start.timestamp(), end.timestamp() if end else float("inf"))
            for dag_id, start, end in rows if start is not None]


def policy_of_dag(dag_id: str) -> str | None:
    if dag_id == "cognito_import":
        return "import"
    return "export" if dag_id.startswith("cognito_export_") else None


def policy_of_class() -> dict[str, str]:
    """Class name -> policy, for the classes of the export and restore packages."""
    import cognito_backup.export
    import cognito_backup.restore

    found: dict[str, str] = {}
    for policy, package in (("export", cognito_backup.export), ("import", cognito_backup.restore)):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__:
                    assert found.setdefault(name, policy) == policy, f"class name {name} is in both packages"
    return found


def actions_of(record: dict[str, Any]) -> set[str]:
    service = record["service"]
    assert service in IAM_PREFIX, f"a DAG called {service} {record['operation']}: add its IAM prefix to IAM_PREFIX"
    action = f"{IAM_PREFIX[service]}:{record['operation']}"
    return {AUTHORISED_AS.get(action, action), *ALSO_REQUIRES.get(action, ())}


@dataclass
class DagCalls:
    records: dict[str, list[dict[str, Any]]]  # policy -> the calls it must allow
    disagreements: list[str]  # calls whose caller class and DAG point to different policies

    def actions(self, policy: str) -> set[str]:
        return {action for record in self.records[policy] for action in actions_of(record)}


def attribute(records: list[dict[str, Any]], runs: list[Run], classes: dict[str, str]) -> DagCalls:
    from airflow.providers.amazon.aws.utils.identifiers import generate_uuid

    if records:  # a pid can come again: only runs during this log count
        first, last = records[0]["time"], records[-1]["time"]
        runs = [run for run in runs if run.start <= last and run.end >= first]
    keys = {dag_id: generate_uuid(dag_id) for dag_id in {run.dag_id for run in runs}}
    calls = DagCalls(defaultdict(list), [])
    for record in records:
        agent = record.get("agent")
        if not agent:
            continue  # not through an Airflow hook: test code
        run = next((run for run in runs if run.start <= record["time"] <= run.end
                    and keys[run.dag_id] == agent.get("dag_key")), None)
        if run is None or policy_of_dag(run.dag_id) is None:
            continue  # a hook used by a test itself, outside the DAG runs
        by_dag = policy_of_dag(run.dag_id)
        by_class = classes.get(agent.get("caller") or "")
        if by_class and by_class != by_dag:
            calls.disagreements.append(f"{agent['caller']} called {record['operation']} in a run of {run.dag_id}")
        calls.records[by_class or by_dag].append(record)
    return calls


@pytest.fixture(scope="module")
def dag_calls(emulator) -> DagCalls:
    calls = attribute(emulator.requests(), dag_runs(), policy_of_class())
    if not any(calls.records.values()):
        pytest.skip("no end-to-end DAG test ran in this session: run the whole suite (make test)")
    return calls


def calls_of(dag_calls: DagCalls, policy: str) -> set[str]:
    if not dag_calls.records[policy]:
        pytest.skip(f"no end-to-end test of the {policy} DAG ran in this session")
    return dag_calls.actions(policy)


# --- what the DAGs did, against the policies -------------------------------------------------


@pytest.mark.after_dag_runs
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_action_the_dag_issued_is_granted(dag_calls, policy):
    used = calls_of(dag_calls, policy)
    assert not dag_calls.disagreements, dag_calls.disagreements
    missing = used - granted(policy)
    assert not missing, f"{POLICIES[policy].name} lacks actions its DAG issued: {sorted(missing)}"


@pytest.mark.after_dag_runs
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_granted_action_was_issued(dag_calls, every_dag_test_passed, policy):
    used = calls_of(dag_calls, policy)
    if not every_dag_test_passed:
        pytest.skip("not every end-to-end test ran and passed: an action unused here may be another's")
    unexercised = set(NOT_EXERCISED[policy])
    assert not unexercised & used, f"now exercised, remove from NOT_EXERCISED: {sorted(unexercised & used)}"
    unused = granted(policy) - used - unexercised
    assert not unused, f"{POLICIES[policy].name} grants actions no run of its DAG issued: {sorted(unused)}"


def string_like(pattern: str) -> re.Pattern[str]:
    """IAM's StringLike: `*` any characters, `?` one."""
    return re.compile("".join({"*": ".*", "?": "."}.get(c, re.escape(c)) for c in pattern) + r"\Z", re.S)


@pytest.mark.after_dag_runs
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_dag_updates_only_items_its_policy_lets_it(dag_calls, policy):
    """UpdateItem is granted on the call budget's items only (dynamodb:LeadingKeys): every key the DAG updated matches."""
    updates = [r for r in dag_calls.records[policy] if r["operation"] == "UpdateItem"]
    if not updates:
        pytest.skip(f"no run of the {policy} DAG updated an item in this session")
    budget = next(s for s in statements(policy) if s["Sid"] == "CallBudget")
    patterns = [string_like(p) for p in budget["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]]
    keys = {item_id for r in updates for item_id, _ in r.get("writes") or []}
    outside = sorted(k for k in keys if not any(p.match(k) for p in patterns))
    assert keys and not outside, outside[:5]


# --- the policies on their own ---------------------------------------------------------------


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_statements_allow_named_actions_only(policy):
    for statement in statements(policy):
        assert statement["Effect"] == "Allow" and not {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
        for action in as_list(statement["Action"]):
            assert isinstance(action, str) and ":" in action, action
            assert "*" not in action and "?" not in action, f"{statement['Sid']}: wildcard action {action}"


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_resources_are_named_wherever_aws_allows(policy):
    """`*` only for actions AWS cannot scope to a resource, or scopes by a condition key (with that
    condition); every other statement names its resources."""
    service_map = load_resource(AdditionalSpecs, "Policies.json")

    def scopable(action: str) -> bool:
        service, name = action.lower().split(":", 1)
        return bool(service_map[service]["Actions"][name].get("Resources"))

    for statement in statements(policy):
        actions = as_list(statement["Action"])
        if statement["Resource"] == "*":
            conditions = {key for test in statement.get("Condition", {}).values() for key in test}
            by_condition = {a for a in actions if SCOPED_BY_CONDITION.get(a) in conditions}
            assert not [a for a in actions if scopable(a) and a not in by_condition], (
                f"{statement['Sid']}: these could name resources")
        else:
            assert all(scopable(a) for a in actions), f"{statement['Sid']}: an action AWS cannot scope needs '*'"
            resources = true_branch(statement["Resource"])
            assert "*" not in as_list(resources), statement["Sid"]


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_update_item_on_the_table_is_limited_to_the_call_budget(policy):
    """The rate limiter's key (plugins/cognito_backup/rate_limit.py) is what the policies allow writing."""
    updating = {s["Sid"]: s for s in statements(policy) if "dynamodb:UpdateItem" in as_list(s["Action"])}
    budget = updating.pop("CallBudget")
    assert budget["Action"] == "dynamodb:UpdateItem"
    assert budget["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{items.RATE_LIMIT_ID}#*"]}}
    # Replicas: in the backup Regions only; restored tables: a point-in-time restore writes them.
    assert set(updating) <= {"CreateReplicas", "RestoredTables"}, set(updating)


def test_the_export_may_query_the_shard_index():
    write = next(s for s in statements("export") if s["Sid"] == "WriteBackupTable")
    assert any(str(r.get("Fn::Sub", "")).endswith(f"/index/{items.SHARD_INDEX}") for r in write["Resource"])


def test_the_export_publishes_metrics_in_its_own_namespace_only():
    publish = next(s for s in statements("export") if s["Sid"] == "PublishMetrics")
    assert publish["Action"] == "cloudwatch:PutMetricData"
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}}
