"""The request log: one JSON object per AWS call, appended and flushed per line.

Record shape (keys always present unless noted)::

    time      epoch seconds (float) when the request arrived: when the host's kernel received it,
              where the platform tells (Linux), else when the emulator started on it
    queued    seconds between the two (the emulator's threads waiting for a CPU or the GIL)
    duration  seconds spent answering it (including injected latency)
    service   signing name: cognito-idp, dynamodb, s3, sns, ...
    operation e.g. ListUsers, BatchWriteItem, PutObject
    region    from the SigV4 credential scope
    category  Cognito quota category, null for other services
    outcome   "ok" | "throttled" (quota) | "fault" (injected) | "error:<ErrorCode>"; a delay
              fault's call has the outcome of its answer
    status    HTTP status, null when the connection was dropped
    fault     only when a fault rule fired: its kind (throttle, internal, drop, delay)
    backend   only for a drop after the backend: the outcome the client never saw
    agent     who called, from the User-Agent that Airflow's AWS hooks extend:
              {"airflow": version, "caller": class name or "Unknown", "dag_key": hashed DAG id},
              null for a plain SDK call (test code, scripts)
    table     DynamoDB only: table name (several joined by ",", null if none)
    wcu, rcu  DynamoDB only: capacity units consumed (AWS sizing rules)
    writes    DynamoDB write operations only: [[id, type], ...] keys written
    target    Cognito only, when the call names them: {"user": Username, "group": GroupName}
              (a test's evidence of which user or group a call touched; the emulator's log is
              development data, never the product's)
    pool      Cognito only, when the call names one: its UserPoolId (which pool each of several
              runs at once worked on)

The file is written under a lock, one ``write`` per line, so a reader that starts at a
line boundary (an offset previously returned by ``end_offset``) sees only whole records.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

# Fields `AwsBaseHook` appends to the User-Agent: "Airflow/<version> ... Caller/<class> DagRunKey/<uuid>".
_AGENT_FIELDS = re.compile(r"(?:^|\s)(Airflow|Caller|DagRunKey)/(\S+)")


def agent(user_agent: str) -> dict[str, str | None] | None:
    """The Airflow caller named in a User-Agent, or None when the call did not come through Airflow."""
    found = dict(_AGENT_FIELDS.findall(user_agent or ""))
    if "Airflow" not in found:
        return None
    return {"airflow": found["Airflow"], "caller": found.get("Caller"), "dag_key": found.get("DagRunKey")}


class RequestLog:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(path: str, since: int = 0) -> list[dict[str, Any]]:
    """Parse the records written after byte offset ``since`` (0: the whole log).

    A trailing line still being written is left for the next read.
    """
    with open(path, "rb") as handle:
        handle.seek(since)
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def end_offset(path: str) -> int:
    """The current end of the log: pass it to ``read(since=...)`` to skip what came before."""
    return os.path.getsize(path)


def cognito_target(call: Any) -> dict[str, Any]:
    """The pool, user and group a Cognito call names, as `pool` and `target` fields (each left
    out when the call names none)."""
    try:
        params = call.params
    except ValueError:
        return {}
    if not isinstance(params, dict):
        return {}
    fields: dict[str, Any] = {}
    if isinstance(params.get("UserPoolId"), str):
        fields["pool"] = params["UserPoolId"]
    found = {key: params[name] for key, name in (("user", "Username"), ("group", "GroupName"))
             if isinstance(params.get(name), str)}
    if found:
        fields["target"] = found
    return fields
