"""The emulator's own HTTP API under /_localaws/ (never logged, never delayed):

    GET  /_localaws/health                  {"status": "ok", "version": ..., "settings": {...}}
    POST /_localaws/reset                   drop all AWS state, quota buckets, faults, import
                                            jobs; settings back to the command line's
    GET  /_localaws/config                  current settings
    POST /_localaws/config                  {"latency_ms": 50, "quotas": "aws", "import_rate": 500,
                                             "replica_delay": 1.0, "pitr_lag": 300, "restore_delay": 2.0}
                                            (any subset) -> new settings
    GET  /_localaws/faults                  current rules with their counters
    POST /_localaws/faults                  [rule, ...] replaces all rules (see localaws.faults):
                                            {"operation": "PutItem", "kind": "throttle"|"internal"|
                                             "drop"|"delay", "fraction": 0.1, "when": "before"|"after"
                                             (drop), "seconds": 2 (delay), "service", "match",
                                             "after", "count"}
    POST /_localaws/seed                    {"region": "us-east-1", "users": N, "groups": G, "seed": S,
                                             "username_attribute": "email"|"none", "one_group_each": bool,
                                             "federated": K, "mfa": "OFF"|"OPTIONAL"|"ON",
                                             "pool_name": str, "account": str (optional)}
                                            -> {"UserPoolId", "Users", "Groups", "Memberships"}
    GET  /_localaws/import-jobs/<JobId>     {"UserImportJob": {...}, "Failures": [{"line", "username", "reason"}]}
    PUT  /_localaws/uploads/<JobId>?...     the pre-signed CSV upload of an import job

Errors are {"error": message} with HTTP 400 (bad input) or 404 (unknown path or job).
"""

from __future__ import annotations

import gc

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from localaws import __version__, backends, population
from localaws.faults import FaultRule
from localaws.import_jobs import UPLOAD_PATH

if TYPE_CHECKING:
    from localaws.middleware import LocalAws

PREFIX = "/_localaws/"


class ControlApi:
    def __init__(self, app: LocalAws):
        self._app = app
        self._routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "health"): self._health,
            ("POST", "reset"): self._reset,
            ("GET", "config"): self._get_config,
            ("POST", "config"): self._set_config,
            ("GET", "faults"): self._get_faults,
            ("POST", "faults"): self._set_faults,
            ("POST", "seed"): self._seed,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        return self._respond(request)(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.path.startswith(UPLOAD_PATH):
            return self._upload(request)
        name = request.path[len(PREFIX) :].strip("/")
        try:
            if name.startswith("import-jobs/") and request.method == "GET":
                return self._import_job(name.split("/", 1)[1])
            route = self._routes.get((request.method, name))
            if route is None:
                return _json({"error": f"no such endpoint: {request.method} {request.path}"}, 404)
            return _json(route(request))
        except (ValueError, TypeError, KeyError) as error:
            return _json({"error": str(error)}, 400)

    def _health(self, request: Request) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "settings": self._app.config.as_dict()}

    def _reset(self, request: Request) -> dict[str, Any]:
        self._app.reset()
        return {"reset": True}

    def _get_config(self, request: Request) -> dict[str, Any]:
        return self._app.config.as_dict()

    def _set_config(self, request: Request) -> dict[str, Any]:
        changes = _body(request)
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of settings")
        self._app.configure(changes)
        return self._app.config.as_dict()

    def _get_faults(self, request: Request) -> list[dict[str, Any]]:
        return self._app.faults.rules()

    def _set_faults(self, request: Request) -> list[dict[str, Any]]:
        rules = _body(request)
        if not isinstance(rules, list):
            raise ValueError("expected a JSON list of fault rules")
        self._app.faults.replace([FaultRule.from_json(rule) for rule in rules])
        return self._app.faults.rules()

    def _seed(self, request: Request) -> dict[str, Any]:
        options = _body(request)
        if not isinstance(options, dict):
            raise ValueError("expected a JSON object of seed options")
        if "region" not in options:
            raise ValueError("'region' is required")
        region = options.pop("region")
        account = options.pop("account", None) or backends.default_account()
        result = population.seed(account, region, population.SeedSpec.from_json(options))
        gc.freeze()  # the seeded pool lives as long as the server: keep it out of collections
        return result

    def _import_job(self, job_id: str) -> Response:
        details = self._app.import_jobs.details(job_id)
        if details is None:
            return _json({"error": f"no import job {job_id}"}, 404)
        return _json(details)

    def _upload(self, request: Request) -> Response:
        job_id = request.path[len(UPLOAD_PATH) :]
        status, code = self._app.import_jobs.upload(
            job_id,
            request.method,
            request.args.get("X-Amz-Signature"),
            request.headers.get("x-amz-server-side-encryption"),
            request.get_data(),
        )
        if status == 200:
            return Response(b"", 200, headers={"ETag": '"localaws"'})
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{code}</Message></Error>'
        return Response(body, status, content_type="application/xml")


def _body(request: Request) -> Any:
    data = request.get_data()
    return json.loads(data) if data else {}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, default=str), status, content_type="application/json")
