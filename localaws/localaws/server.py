"""Building and running the emulator: moto's patched models behind our WSGI app, on
werkzeug's threaded server (one thread per connection)."""

from __future__ import annotations

import gc
import os
import signal
import sys
from typing import Any

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


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a stderr line per request (it would slow every call)."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def build_app(settings: Settings, faults: list[FaultRule], request_log: str | None) -> LocalAws:
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
    # A request is stamped (and counted against its quota) when its thread first runs. With
    # Python's default 5 ms switch interval, a thread building a DynamoDB page keeps the
    # threads of newly arrived Cognito calls waiting in turn, long enough to bunch their stamps.
    sys.setswitchinterval(0.0005)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
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
