"""The WSGI application: moto's dispatcher wrapped with everything localaws adds.

For every AWS call, in order: identify it (service, Region, operation); throttle it if
its Cognito quota bucket is empty, else ask the fault rules; wait the configured latency
(plus a delay fault's spike; outside the state lock, so concurrent clients overlap); answer
it (our Cognito handlers, or moto with DynamoDB bookkeeping around it, or plain moto) under
the state lock, unless a fault answers instead or drops the connection (before or after the
backend); write one request-log record. Requests under /_localaws/ go to the control API.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.http import HTTP_STATUS_CODES

from localaws import backends, dynamodb, listing, protocol, quotas, requestlog
from localaws.cognito import CognitoError, Handler
from localaws.config import RuntimeConfig
from localaws.control import PREFIX, ControlApi
from localaws.faults import FaultInjector, FaultRule
from localaws.global_tables import GLOBAL_TABLES
from localaws.point_in_time import POINT_IN_TIME
from localaws.import_jobs import ImportJobs
from localaws.protocol import AwsCall, Reply
from localaws.requestlog import RequestLog
from localaws.stalls import StallLog


class LocalAws:
    def __init__(self, config: RuntimeConfig, faults: list[FaultRule], request_log: RequestLog | None,
                 stall_log: StallLog | None = None):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.config = config
        self.quotas = quotas.QuotaBuckets()
        self._initial_faults = list(faults)
        self.faults = FaultInjector(faults)
        self.request_log = request_log
        self.stall_log = stall_log
        self.import_jobs = ImportJobs(config)
        self.cognito_handlers: dict[str, Handler] = {**listing.HANDLERS, **self.import_jobs.handlers}
        self.control = ControlApi(self)
        self._apply_settings()

    def configure(self, changes: dict[str, Any]) -> None:
        self.config.update(changes)
        self._apply_settings()

    def _apply_settings(self) -> None:
        # The only settings read outside a request's own path.
        settings = self.config.current
        GLOBAL_TABLES.delay = settings.replica_delay
        POINT_IN_TIME.lag = settings.pitr_lag
        POINT_IN_TIME.restore_delay = settings.restore_delay

    def reset(self) -> None:
        """Back to the state the server started in (settings and --faults included)."""
        with backends.STATE_LOCK:
            self.import_jobs.reset()
            GLOBAL_TABLES.reset()
            POINT_IN_TIME.reset()
            backends.reset_moto()
        self.quotas.reset()
        self.faults.replace([_fresh(rule) for rule in self._initial_faults])
        self.config.restore()
        self._apply_settings()

    def close(self) -> None:
        if self.request_log:
            self.request_log.close()
        if self.stall_log:
            self.stall_log.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return self.control(environ, start_response)
        began = time.monotonic()
        started = time.time()
        arrived = environ.get("localaws.arrived") or started
        body = _read_body(environ)
        call = protocol.identify(environ, body)
        if call is None:  # moto's own API (/moto-api), unsigned non-AWS requests
            return self.moto(environ, start_response)

        if self.stall_log:
            self.stall_log.begin(call.service, call.operation)
        try:
            reply, outcome, fields = self._answer(call, environ)
        finally:
            if self.stall_log:
                self.stall_log.end()
        if self.request_log:
            record = {
                "time": arrived,
                "queued": round(max(0.0, started - arrived), 6),
                "duration": round(time.monotonic() - began, 6),
                "service": call.service,
                "operation": call.operation,
                "region": call.region,
                "category": quotas.category(call.service, call.operation),
                "outcome": outcome,
                "status": reply.status if reply else None,
                "agent": requestlog.agent(environ.get("HTTP_USER_AGENT", "")),
                **fields,
            }
            if call.service == quotas.QUOTA_SERVICE:
                record.update(requestlog.cognito_target(call))
            self.request_log.write(record)
        if reply is None:
            _drop_connection(environ)
        headers = list(reply.headers)
        if not any(name.lower() == "content-length" for name, _ in headers):  # moto's is right (HEAD too)
            headers.append(("Content-Length", str(len(reply.body))))
        start_response(f"{reply.status} {HTTP_STATUS_CODES.get(reply.status, '')}", headers)
        return [reply.body]

    def _answer(self, call: AwsCall, environ: dict[str, Any]) -> tuple[Reply | None, str, dict[str, Any]]:
        """The reply (None: drop the connection instead), the log outcome and the extra log
        fields of one AWS call. Quotas and fault rules decide on arrival, before any latency."""
        throttled = self._throttled(call)
        fault = None if throttled else self.faults.decide(call.service, call.operation, call.body)
        spike = fault.seconds if fault and fault.kind == "delay" else None
        wait = self.config.current.latency_ms / 1000 + (spike or 0)
        if wait:
            time.sleep(wait)
        parses = _parses(call)
        fields = dynamodb.log_fields(call) if parses and call.service == "dynamodb" else {}
        if fault:
            fields["fault"] = fault.kind
        if fault and fault.kind == "drop" and fault.when == "before":
            return None, "fault", fields
        if not parses:
            reply = protocol.error_reply(call, "SerializationException", "The request body is not valid JSON.", 400)
            return reply, "error:SerializationException", fields
        if throttled or (fault and fault.kind == "throttle"):
            code, status = protocol.throttling_error(call)
            return protocol.error_reply(call, code, "Too many requests", status), "throttled" if throttled else "fault", fields
        if fault and fault.kind == "internal":
            code, status = protocol.internal_error(call)
            return protocol.error_reply(call, code, "Internal error (injected by localaws)", status), "fault", fields
        try:
            with backends.STATE_LOCK.urgent() if _urgent(call) else backends.STATE_LOCK:
                reply, fields = self._backend(call, environ, fields)
        except Exception as error:  # a bug here or in moto: answer like AWS would, keep serving
            traceback.print_exc(file=sys.stderr)
            code, status = protocol.internal_error(call)
            return protocol.error_reply(call, code, f"{type(error).__name__}: {error}", status), f"error:{code}", fields
        outcome = "ok" if reply.ok else f"error:{protocol.error_code(reply)}"
        if fault and fault.kind == "drop":  # after the backend applied the call
            return None, "fault", {**fields, "backend": outcome}
        return reply, outcome, fields

    def _throttled(self, call: AwsCall) -> bool:
        """Whether the call's Cognito quota bucket is empty."""
        category = quotas.category(call.service, call.operation)
        return bool(category) and self.config.current.quotas == "aws" and not self.quotas.admit(call.account, call.region, category)

    def _backend(self, call: AwsCall, environ: dict[str, Any], fields: dict[str, Any]) -> tuple[Reply, dict[str, Any]]:
        handler = self.cognito_handlers.get(call.operation) if call.service == "cognito-idp" else None
        if handler:
            try:
                return protocol.json_reply(call, handler(call)), fields
            except CognitoError as error:
                return protocol.error_reply(call, error.code, error.message, error.status), fields
        if call.service == "dynamodb":
            reply, table_fields = dynamodb.handle(call, lambda body: self._run_moto(environ, call.body if body is None else body))
            return reply, {**fields, **table_fields}
        return self._run_moto(environ, call.body), fields

    def _run_moto(self, environ: dict[str, Any], body: bytes) -> Reply:
        environ = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        chunks = self.moto(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return Reply(int(captured["status"].split()[0]), list(captured["headers"]), data)


# Calls on one item: each holds the state lock briefly, as AWS answers them in milliseconds.
_SINGLE_ITEM = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem"})


def _urgent(call: AwsCall) -> bool:
    """Whether the call goes before waiting queries, scans and batches (see `backends`)."""
    return call.service == "cognito-idp" or (call.service == "dynamodb" and call.operation in _SINGLE_ITEM)


def _drop_connection(environ: dict[str, Any]) -> NoReturn:
    """Close the client's connection without a reply. werkzeug takes the error for a client
    that went away and sends nothing."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:  # else werkzeug waits on it for a next request, the client for a reply
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("connection dropped by a fault rule")


def _parses(call: AwsCall) -> bool:
    """Whether a JSON-protocol body is a JSON object (what our handlers rely on)."""
    if call.protocol != "json":
        return True
    try:
        return isinstance(call.params, dict)
    except ValueError:
        return False


def _fresh(rule: FaultRule) -> FaultRule:
    """The same rule with its counters at zero."""
    return FaultRule.from_json({key: value for key, value in rule.to_json().items() if key not in ("seen", "injected")})


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body once, leaving a re-readable copy for moto."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        data = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        data = stream.read()
    else:
        data = b""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return data
