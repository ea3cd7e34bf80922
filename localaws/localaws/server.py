"""Building and running the emulator: moto's patched models behind our WSGI app, on
werkzeug's threaded server (one thread per connection), with connections kept alive as AWS's
endpoints keep them."""

from __future__ import annotations

import gc
import io
import os
import platform
import signal
import socket
import struct
import sys
import traceback
from typing import Any

import moto.backends
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from localaws import (
    capacity,
    cognito_index,
    dynamodb_json,
    fast_items,
    global_tables,
    point_in_time,
    query_index,
    scan_index,
    stream_records,
)
from localaws.config import RuntimeConfig, Settings
from localaws.faults import FaultRule
from localaws.middleware import LocalAws
from localaws.requestlog import RequestLog
from localaws.stalls import StallLog


# Linux stamps each packet it receives; a socket with SO_TIMESTAMPNS hands the stamp to recvmsg
# (a struct timespec). Python's socket module has no name for the option: its value on x86-64
# and ARM64 Linux (other architectures number it differently), else the arrival is when the
# emulator starts on a request.
_STAMP_OPTION = 35 if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64") else None
_STAMP = struct.Struct("@ll")
_STAMP_SPACE = socket.CMSG_SPACE(_STAMP.size)


class _StampedReads(socket.SocketIO):
    """A connection's reads, each noting when the kernel received the data it returns."""

    stamp: float | None = None

    def readinto(self, b: Any) -> int | None:
        self._checkClosed()
        self._checkReadable()
        try:
            count, ancillary, _flags, _address = self._sock.recvmsg_into([b], _STAMP_SPACE)
        except BlockingIOError:
            return None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == _STAMP_OPTION and len(data) >= _STAMP.size:
                seconds, nanoseconds = _STAMP.unpack_from(data)
                self.stamp = seconds + nanoseconds / 1e9
        return count


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a stderr line per request (it would slow every call),
    which tells the app when each request reached this host (`localaws.arrived`), and keeps
    the connection open for the client's next request."""

    protocol_version = "HTTP/1.1"

    # A request's arrival is the kernel's receive time of its first bytes, not when its thread
    # first runs: on a host short of CPU, the emulator may wait 100 ms or more to run, and the
    # calls that reached it meanwhile would all be stamped in the same instant when it does.
    # Cognito counts calls as they reach it. Set when the listening socket takes the option
    # (its connections inherit it, from their first bytes on, accepted or not).
    stamped = False
    arrived: float | None = None

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as AWS's endpoints answer
        if self.stamped:
            self.rfile.close()
            self.rfile = io.BufferedReader(_StampedReads(self.connection, "rb"), io.DEFAULT_BUFFER_SIZE)

    def parse_request(self) -> bool:
        # Its request line was just read, by a read of its own (clients here do not pipeline).
        self.arrived = getattr(self.rfile.raw, "stamp", None)
        return super().parse_request()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["localaws.arrived"] = self.arrived
        return environ

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass

    def run_wsgi(self) -> None:
        """One request, its connection kept open after it (unless the request was chunked or the
        app failed): werkzeug's own closes every connection, so SDK clients, which pool and
        reuse them against AWS, would connect again for every call here, at a cost of CPU on
        both sides that AWS never puts on them. The body is read whole before the app runs and
        the reply written whole, so the next request starts where this one ends."""
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        if environ.get("CONTENT_LENGTH"):
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(environ["CONTENT_LENGTH"])))
        elif environ.get("wsgi.input_terminated"):  # chunked: its end is the app's to find
            self.close_connection = True
        reply: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            reply["status"], reply["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self.server.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
        except (ConnectionError, socket.timeout):
            self.close_connection = True  # a fault rule dropped it, or the client went away
            return
        except Exception:
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            self.close_connection = True
            reply = {"status": "500 Internal Server Error", "headers": [("Content-Type", "text/plain")]}
            body = b"Internal Server Error"
        code, _, message = reply["status"].partition(" ")
        self.send_response(int(code), message)
        headers = [(k, v) for k, v in reply["headers"] if k.lower() != "connection"]
        for name, value in headers:
            self.send_header(name, value)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Head and body in one write: as two, the body would wait for the client's delayed ACK
        # of the head (Nagle's algorithm), 40 ms on Linux, on a connection kept open.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()


def _stamp_arrivals(listener: socket.socket) -> bool:
    if _STAMP_OPTION is None:
        return False
    try:
        listener.setsockopt(socket.SOL_SOCKET, _STAMP_OPTION, 1)
    except OSError:
        return False
    return True


def _list_moto_modules_once() -> None:
    """moto finds the backend of each request by listing its package folder, a stat per entry:
    a twentieth of what a Query cost the emulator, a fortieth of a batch write. The folder does
    not change while the server runs."""
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


def build_app(settings: Settings, faults: list[FaultRule], request_log: str | None,
              stall_log: str | None = None) -> LocalAws:
    _list_moto_modules_once()
    cognito_index.install()
    fast_items.install()
    stream_records.install()
    scan_index.install()  # before capacity, which meters whatever Table.scan is
    capacity.install()
    global_tables.install()
    point_in_time.install()
    query_index.install()
    dynamodb_json.install()
    return LocalAws(RuntimeConfig(settings), faults, RequestLog(request_log) if request_log else None,
                    StallLog(stall_log) if stall_log else None)


def serve(host: str, port: int, app: LocalAws) -> None:
    """Serve until SIGTERM / SIGINT. Port 0 picks a free port; the first line on stdout
    says where we listen, once the socket accepts connections."""
    # A collection stops every thread, and the calls that arrive meanwhile are all stamped (and
    # counted against quotas) in the same instant when it ends. The cost of a collection is the
    # size of what it walks: young generations kept small cost a millisecond or two each; the
    # oldest (a seeded pool and a backup table: millions of long-lived objects, 0.4 s or more
    # a walk) is never collected automatically, which only keeps the few cycles that outlive
    # two young collections until the server exits.
    gc.set_threshold(1_000, 10, 2**31 - 1)
    # A request is counted against its quota when its thread first runs. With Python's default
    # 5 ms switch interval, a thread building a DynamoDB page keeps the threads of newly
    # arrived Cognito calls waiting in turn, long enough to bunch them.
    sys.setswitchinterval(0.0005)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    _QuietHandler.stamped = _stamp_arrivals(server.socket)
    os.environ.setdefault("MOTO_PORT", str(server.server_port))  # moto builds some URLs with it
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"localaws listening on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
