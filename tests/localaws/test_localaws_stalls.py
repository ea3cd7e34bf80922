"""The stall log: the emulator's own pauses, which tell a benchmark's gap between calls from a
pause of the emulator."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from localaws.requestlog import read
from localaws.testing import Emulator


@pytest.fixture
def stalled(tmp_path: Path) -> Any:
    path = tmp_path / "stalls.jsonl"
    with Emulator.start(stall_log=str(path)) as aws:
        yield aws, path


def test_a_request_answered_slowly_is_recorded_with_where_it_waits(stalled: Any) -> None:
    aws, path = stalled
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="stalls")["UserPool"]["Id"]
    cognito.list_users(UserPoolId=pool)
    time.sleep(1.2)
    assert not [r for r in read(str(path)) if r["kind"] == "slow"]  # a quick call is not

    aws.set_faults([{"operation": "ListUsers", "kind": "delay", "fraction": 1.0, "seconds": 2.2}])
    began = time.time()
    cognito.list_users(UserPoolId=pool)

    slow = [r for r in read(str(path)) if r["kind"] == "slow"]
    assert [(r["service"], r["operation"]) for r in slow] == [("cognito-idp", "ListUsers")] * 2
    assert [round(r["age"]) for r in slow] == [1, 2]
    assert all(began < r["time"] < time.time() for r in slow)
    assert "time.sleep(wait)" in "".join(slow[0]["stack"])  # the delay fault's wait, in the middleware


def test_a_process_paused_from_outside_is_recorded_as_late(stalled: Any) -> None:
    aws, path = stalled
    time.sleep(0.3)
    os.kill(aws.process.pid, signal.SIGSTOP)
    time.sleep(0.6)
    os.kill(aws.process.pid, signal.SIGCONT)
    time.sleep(1.2)

    records = read(str(path))
    late = [r for r in records if r["kind"] == "late"]
    assert len(late) == 1 and 0.4 < late[0]["seconds"] < 1.5
    seconds = [r for r in records if r["kind"] == "second"]
    assert seconds and all(r["cpu"] >= 0 and r["inflight"] == 0 for r in seconds)
