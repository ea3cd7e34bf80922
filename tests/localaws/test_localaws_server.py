"""The server itself: CLI, control API, concurrency, latency, reset, Regions."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from localaws.testing import Emulator

REGION = "us-east-1"
OTHER_REGION = "us-west-2"


def test_health_reports_settings(aws: Emulator) -> None:
    health = aws.health()
    assert health["status"] == "ok"
    assert health["settings"] == {
        "latency_ms": 0.0, "quotas": "off", "import_rate": 1000.0, "replica_delay": 1.0, "pitr_lag": 300.0, "restore_delay": 2.0,
    }


def test_unknown_control_endpoint_is_404(aws: Emulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(aws.endpoint + "/_localaws/nothing-here")
    assert error.value.code == 404


def test_latency_applies_to_aws_calls_and_overlaps_across_clients(aws: Emulator) -> None:
    aws.set_config(latency_ms=100)
    clients = [aws.client("cognito-idp", REGION) for _ in range(8)]
    for client in clients:  # open each client's connection before timing
        client.list_user_pools(MaxResults=1)
    durations: list[float] = []

    def three_calls(client: object) -> None:
        for _ in range(3):
            began = time.perf_counter()
            client.list_user_pools(MaxResults=10)  # type: ignore[attr-defined]
            durations.append(time.perf_counter() - began)

    began = time.perf_counter()
    threads = [threading.Thread(target=three_calls, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began

    assert len(durations) == 24
    assert min(durations) >= 0.1  # every call waited
    assert elapsed < 1.2  # 24 calls x 100 ms one after another would take 2.4 s


def test_latency_does_not_apply_to_control_endpoints(aws: Emulator) -> None:
    aws.set_config(latency_ms=500)
    began = time.perf_counter()
    aws.health()
    assert time.perf_counter() - began < 0.3


def test_config_rejects_bad_values(aws: Emulator) -> None:
    with pytest.raises(RuntimeError, match="quotas"):
        aws.set_config(quotas="sometimes")
    with pytest.raises(RuntimeError, match="unknown settings"):
        aws.set_config(speed=3)


def test_reset_forgets_state_and_restores_start_settings(aws: Emulator) -> None:
    cognito = aws.client("cognito-idp", REGION)
    cognito.create_user_pool(PoolName="before-reset")
    aws.set_config(latency_ms=20, quotas="aws")
    aws.set_faults([{"operation": "ListGroups", "kind": "throttle"}])

    aws.reset()

    assert cognito.list_user_pools(MaxResults=10)["UserPools"] == []
    assert aws.health()["settings"]["latency_ms"] == 0.0
    assert aws.health()["settings"]["quotas"] == "off"
    assert aws.faults() == []


def test_one_endpoint_keeps_regions_apart(aws: Emulator) -> None:
    east = aws.client("cognito-idp", REGION)
    west = aws.client("cognito-idp", OTHER_REGION)
    east.create_user_pool(PoolName="east")
    west.create_user_pool(PoolName="west")
    assert [pool["Name"] for pool in east.list_user_pools(MaxResults=10)["UserPools"]] == ["east"]
    assert [pool["Name"] for pool in west.list_user_pools(MaxResults=10)["UserPools"]] == ["west"]


def test_cli_seed_prints_only_the_pool_id(aws: Emulator) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localaws", "seed", "--endpoint", aws.endpoint, "--region", REGION, "--users", "25", "--groups", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pool_id = result.stdout.strip()
    assert re.fullmatch(r"us-east-1_[0-9a-zA-Z]+", pool_id)
    assert result.stdout == pool_id + "\n"
    pool = aws.client("cognito-idp", REGION).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["EstimatedNumberOfUsers"] == 25


def test_cli_serve_refuses_a_bad_faults_spec() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localaws", "serve", "--port", "0", "--faults", "ListUsers=explode:0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "fault kind" in result.stderr


def test_a_second_emulator_is_independent(aws: Emulator) -> None:
    aws.client("cognito-idp", REGION).create_user_pool(PoolName="first")
    with Emulator.start(latency_ms=5) as second:
        assert second.endpoint != aws.endpoint
        assert second.client("cognito-idp", REGION).list_user_pools(MaxResults=10)["UserPools"] == []
        assert json.loads(json.dumps(second.health()))["settings"]["latency_ms"] == 5.0


BOTO3_SCRIPT = """
import boto3
print(boto3.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"][0]["Name"])
"""
AIRFLOW_SCRIPT = """
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
hook = AwsBaseHook(aws_conn_id=None, client_type="cognito-idp")
print(hook.get_conn().list_user_pools(MaxResults=10)["UserPools"][0]["Name"])
"""


def run_with_endpoint(aws: Emulator, command: list[str], **extra_env: str) -> str:
    """Run a client with nothing but the environment pointing it at the emulator."""
    aws.client("cognito-idp", REGION).create_user_pool(PoolName="found-via-env")
    env = {**os.environ, **aws.env(REGION), **extra_env}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=120)
    return result.stdout.strip().splitlines()[-1]


def test_boto3_reaches_it_through_aws_endpoint_url(aws: Emulator) -> None:
    assert run_with_endpoint(aws, [sys.executable, "-c", BOTO3_SCRIPT]) == "found-via-env"


def test_airflow_aws_hooks_reach_it_through_aws_endpoint_url(aws: Emulator, tmp_path: Path) -> None:
    assert run_with_endpoint(aws, [sys.executable, "-c", AIRFLOW_SCRIPT], AIRFLOW_HOME=str(tmp_path)) == "found-via-env"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_reaches_it_through_aws_endpoint_url(aws: Emulator) -> None:
    output = run_with_endpoint(aws, ["aws", "cognito-idp", "list-user-pools", "--max-results", "10", "--query", "UserPools[0].Name", "--output", "text"])
    assert output == "found-via-env"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="arrival stamps from the kernel: Linux only")
def test_calls_are_logged_when_they_reach_the_host_even_while_the_emulator_cannot_run(aws: Emulator) -> None:
    # Cognito counts a call when it reaches it. An emulator short of CPU (here: stopped) must not
    # log the calls that reached it meanwhile as one burst when it runs again.
    clients = [aws.client("cognito-idp", REGION) for _ in range(3)]
    fresh = aws.client("cognito-idp", REGION)  # its connection opens while the emulator is stopped
    for client in clients:
        client.list_user_pools(MaxResults=1)
    mark = aws.mark()
    sent: list[float] = []
    threads = [threading.Thread(target=c.list_user_pools, kwargs={"MaxResults": 2}) for c in [*clients, fresh]]
    os.kill(aws.process.pid, signal.SIGSTOP)
    try:
        for thread in threads:
            sent.append(time.time())
            thread.start()
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        os.kill(aws.process.pid, signal.SIGCONT)
    for thread in threads:
        thread.join()
    records = sorted(aws.requests(since=mark), key=lambda r: r["time"])
    assert len(records) == 4
    for at, record in zip(sent, records):
        assert at <= record["time"] < at + 0.05, (sent, records)
        assert record["queued"] > 0.25, records


def test_connections_stay_open_between_calls_as_aws_keeps_them(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SDK client reuses one connection for call after call; a connection the emulator closed
    after each reply would cost a connect per call that AWS never asks for."""
    client = aws.client("dynamodb", REGION)
    client.list_tables()  # the client's first connection
    connects = []
    original = socket.socket.connect

    def counting(sock: socket.socket, address: object) -> None:
        connects.append(address)
        original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counting)
    started = time.monotonic()
    for _ in range(20):
        client.list_tables()
    seconds = time.monotonic() - started
    assert connects == []
    # Each reply goes out in one piece: a body sent after its head waits for the client's
    # delayed ACK (40 ms on Linux) on a connection kept open.
    assert seconds < 20 * 0.04


def test_a_dropped_connection_is_not_reused(aws: Emulator) -> None:
    client = aws.client("dynamodb", REGION)
    client.list_tables()
    aws.set_faults([{"operation": "ListTables", "kind": "drop", "count": 1}])
    assert "TableNames" in client.list_tables()  # retried by the SDK on a new connection
    assert aws.faults()[0]["injected"] == 1
