"""What an incoming AWS request is (service, Region, operation, protocol) and how AWS
shapes replies and errors for it.

One endpoint serves every service and Region, so the service and Region come from the
SigV4 credential scope (as in moto's own dispatcher) and the operation from the
protocol: the X-Amz-Target header (JSON), the Action parameter (query), or the
method and path matched against botocore's service model (REST, e.g. S3).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl
from xml.sax.saxutils import escape

import botocore.session
from botocore.exceptions import UnknownServiceError

from localaws import backends

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

# Unsigned JSON calls (Cognito's user-facing API) carry no Region; moto assumes us-east-1.
_UNSIGNED_TARGETS = {"AWSCognitoIdentityProviderService": "cognito-idp"}

# Signing names whose botocore service name differs.
_MODEL_NAMES = {
    "monitoring": "cloudwatch",
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "email": "ses",
}

# (code, HTTP status) of a throttling error and of an internal error, by service.
_THROTTLE = {
    "cognito-idp": ("TooManyRequestsException", 400),
    "dynamodb": ("ThrottlingException", 400),
    "s3": ("SlowDown", 503),
}
_INTERNAL = {
    "cognito-idp": ("InternalErrorException", 500),
    "dynamodb": ("InternalServerError", 500),
    "s3": ("InternalError", 500),
}


@dataclasses.dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclasses.dataclass
class AwsCall:
    service: str
    region: str
    operation: str
    protocol: str  # json | query | rest-json | rest-xml
    account: str
    body: bytes
    host: str  # Host header as the client sent it: how URLs back to us must look
    json_version: str = "1.1"

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """The JSON request body (JSON protocol only)."""
        return json.loads(self.body) if self.body else {}


def identify(environ: dict[str, Any], body: bytes) -> AwsCall | None:
    """Describe an AWS call, or return None for requests that are not one (moto's API)."""
    found = _signed_scope(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    target_prefix = target.split(".", 1)[0]
    if found:
        access_key, region, service = found
    elif target_prefix in _UNSIGNED_TARGETS:
        access_key, region, service = None, "us-east-1", _UNSIGNED_TARGETS[target_prefix]
    else:
        return None
    account = backends.account_for(access_key, environ.get("HTTP_X_MOTO_ACCOUNT_ID"))
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    content_type = environ.get("CONTENT_TYPE", "")

    if target:
        if target.startswith("DynamoDBStreams"):
            service = "dynamodbstreams"
        version = "1.0" if "json-1.0" in content_type else "1.1"
        return AwsCall(service, region, target.rsplit(".", 1)[-1], "json", account, body, host, version)

    action = _query_action(environ, body, content_type)
    if action:
        return AwsCall(service, region, action, "query", account, body, host)

    operation, protocol = _rest_operation(service, environ, _request_path(service, environ, host))
    return AwsCall(service, region, operation, protocol, account, body, host)


def _signed_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        # Pre-signed URLs carry the scope in the query string.
        credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if credential:
            match = _CREDENTIAL.search("Credential=" + credential[0])
    if not match:
        return None
    access_key, region, service = match.groups()
    return access_key, region, service.lower()


def _query_action(environ: dict[str, Any], body: bytes, content_type: str) -> str | None:
    if content_type.startswith("application/x-www-form-urlencoded") and body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


def _request_path(service: str, environ: dict[str, Any], host: str) -> str:
    path = environ.get("PATH_INFO") or "/"
    if service == "s3":
        # Virtual-hosted style (bucket.localhost:4566/key, bucket.s3.amazonaws.com/key):
        # put the bucket back into the path, where the S3 model's routes expect it.
        labels = host.rsplit(":", 1)[0].split(".")
        if len(labels) > 1 and labels[1] in ("localhost", "s3"):
            return "/" + labels[0] + path
    return path


@dataclasses.dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str], ...]  # required parameters; an empty value means "present"
    headers: tuple[str, ...]  # required headers, as WSGI environ keys
    specificity: tuple[int, int]

    def matches(self, method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]) -> bool:
        if method != self.method or not self.path.match(path):
            return False
        if not all(header in environ for header in self.headers):
            return False
        return all(key in query and (not value or value in query[key]) for key, value in self.query)


@functools.cache
def _rest_routes(service: str) -> tuple[str, list[_Route]]:
    """The protocol of a REST service and its routes, most specific first.

    Operations sharing a method and path (S3's PutObject, CopyObject, UploadPart) differ
    by their required query parameters and headers, so those count as specificity.
    """
    try:
        model = botocore.session.get_session().get_service_model(_MODEL_NAMES.get(service, service))
    except UnknownServiceError:
        return "rest-json", []
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        http = operation.http
        path, _, literal_query = http.get("requestUri", "/").partition("?")
        pattern = "".join(
            (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
        )
        query = list(parse_qsl(literal_query, keep_blank_values=True))
        headers = []
        shape = operation.input_shape
        for member in shape.required_members if shape else []:
            location = shape.members[member].serialization
            if location.get("location") == "querystring":
                query.append((location["name"], ""))
            elif location.get("location") == "header":
                headers.append("HTTP_" + location["name"].upper().replace("-", "_"))
        literal_chars = len(re.sub(r"\{[^}]+\}", "", path))
        specificity = (len(query) + len(headers), literal_chars)
        routes.append(_Route(name, http.get("method", "GET"), re.compile(f"^{pattern}/?$"), tuple(query), tuple(headers), specificity))
    routes.sort(key=lambda route: route.specificity, reverse=True)
    return model.metadata.get("protocol", "rest-json"), routes


def _rest_operation(service: str, environ: dict[str, Any], path: str) -> tuple[str, str]:
    protocol, routes = _rest_routes(service)
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    for route in routes:
        if route.matches(method, path, query, environ):
            return route.operation, protocol
    return f"{method} {path}", protocol


def new_request_id() -> str:
    return str(uuid.uuid4())


def json_reply(call: AwsCall, payload: dict[str, Any], status: int = 200) -> Reply:
    headers = [
        ("Content-Type", f"application/x-amz-json-{call.json_version}"),
        ("x-amzn-RequestId", new_request_id()),
    ]
    return Reply(status, headers, json.dumps(payload, ensure_ascii=False).encode())


def error_reply(call: AwsCall, code: str, message: str, status: int) -> Reply:
    """An error exactly as the service's protocol carries it, so botocore parses the code."""
    request_id = new_request_id()
    if call.protocol in ("json", "rest-json"):
        content_type = f"application/x-amz-json-{call.json_version}" if call.protocol == "json" else "application/json"
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
        return Reply(status, headers, json.dumps({"__type": code, "message": message}).encode())
    if call.protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    else:
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    return Reply(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode())


def throttling_error(call: AwsCall) -> tuple[str, int]:
    default = ("Throttling", 400) if call.protocol == "query" else ("ThrottlingException", 400)
    return _THROTTLE.get(call.service, default)


def internal_error(call: AwsCall) -> tuple[str, int]:
    return _INTERNAL.get(call.service, ("InternalFailure", 500))


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


def error_code(reply: Reply) -> str:
    """The AWS error code of a failed reply, whatever protocol produced it."""
    for name, value in reply.headers:
        if name.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    try:
        payload = json.loads(reply.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("__type") or payload.get("code") or payload.get("Code")
        if code:
            return str(code).rsplit("#", 1)[-1]
    match = _XML_CODE.search(reply.body)
    if match:
        return match.group(1).decode()
    return f"HTTP{reply.status}"
