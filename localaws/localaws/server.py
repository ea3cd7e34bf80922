"""Building and running the emulator: moto's patched models behind our WSGI app, on
werkzeug's threaded server (one thread per connection)."""

from __future__ import annotations

import gc
import io
import os
import platform
import signal
import socket
import struct
import sys
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
    which tells the app when each request reached this host (`localaws.arrived`)."""

    # A request's arrival is the kernel's receive time of its first bytes, not when its thread
    # first runs: on a host short of CPU, the emulator may wait 100 ms or more to run, and the
    # calls that reached it meanwhile would all be stamped in the same instant when it does.
    # Cognito counts calls as they reach it. Set when the listening socket takes the option
    # (its connections inherit it, from their first bytes on, accepted or not).
    stamped = False
    arrived: float | None = None

    def setup(self) -> None:
        super().setup()
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


def build_app(settings: Settings, faults: list[FaultRule], request_log: str | None) -> LocalAws:
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
    return LocalAws(RuntimeConfig(settings), faults, RequestLog(request_log) if request_log else None)


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
