"""Injected failures: a fraction of matching calls meet one of these kinds of fault, as a
client would meet them from AWS:

    throttle  the service's throttling error (Cognito: TooManyRequestsException, HTTP 400)
    internal  the service's internal error, HTTP 500 (DynamoDB: InternalServerError)
    drop      the connection is closed without a reply: the SDK sees a connection error.
              "when": "before" (default) drops it before the backend sees the call;
              "after" lets the backend apply the call first (the write happened, the
              client cannot know)
    delay     the call is answered normally, "seconds" (default 2) later: a latency spike

Throttle, internal and drop-before faults come before the backend, so the call changes nothing.

Rules come from ``--faults SPEC`` (``Operation=kind[:fraction][:option=value...],...``, e.g.
``*=drop:0.01:when=after,ListUsers=delay:0.1:seconds=5``; a ``match`` holding ``,`` or ``:``
needs a JSON rule) or as JSON from ``POST /_localaws/faults``:

    {"operation": "ListUsers", "kind": "throttle", "fraction": 1.0,
     "service": "cognito-idp", "match": "sub ^= \\"a\\"", "after": 0, "count": 3}

Only ``operation`` and ``kind`` are required. ``match`` is a substring the request body
must contain, either verbatim or inside one of its JSON string values (so quotes need no
JSON escaping). ``after`` lets the first N matching calls through; ``count`` caps the
number of injected faults. Rules are tried in order; the first that fires decides.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
from typing import Any

KINDS = ("throttle", "internal", "drop", "delay")
WHEN = ("before", "after")
DEFAULT_SPIKE_SECONDS = 2.0


@dataclasses.dataclass
class FaultRule:
    operation: str
    kind: str
    fraction: float = 1.0
    service: str | None = None
    match: str | None = None
    after: int = 0
    count: int | None = None
    when: str | None = None  # drop only: "before" or "after" the backend applies the call
    seconds: float | None = None  # delay only: how much later the reply comes
    seen: int = 0  # matching calls so far
    injected: int = 0  # faults injected so far

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "drop":
            self.when = self.when or "before"
            if self.when not in WHEN:
                raise ValueError(f"fault 'when' must be one of {WHEN}, not {self.when!r}")
        elif self.when is not None:
            raise ValueError("fault 'when' applies to drop faults only")
        if self.kind == "delay":
            self.seconds = DEFAULT_SPIKE_SECONDS if self.seconds is None else self.seconds
            if self.seconds < 0:
                raise ValueError("fault 'seconds' must be >= 0")
        elif self.seconds is not None:
            raise ValueError("fault 'seconds' applies to delay faults only")
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"fault fraction must be within 0..1, not {self.fraction}")
        if self.after < 0 or (self.count is not None and self.count < 0):
            raise ValueError("fault 'after' and 'count' must be >= 0")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {"operation", "kind", "fraction", "service", "match", "after", "count", "when", "seconds"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        if "operation" not in data or "kind" not in data:
            raise ValueError("a fault rule needs 'operation' and 'kind'")
        return cls(
            operation=str(data["operation"]),
            kind=str(data["kind"]),
            fraction=float(data.get("fraction", 1.0)),
            service=data.get("service"),
            match=data.get("match"),
            after=int(data.get("after", 0)),
            count=None if data.get("count") is None else int(data["count"]),
            when=data.get("when"),
            seconds=None if data.get("seconds") is None else float(data["seconds"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as JSON, without the options its kind does not take."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None or key not in ("when", "seconds")}

    def applies_to(self, service: str, operation: str, body_text: _BodyText) -> bool:
        if self.operation not in ("*", operation):
            return False
        if self.service is not None and self.service != service:
            return False
        return self.match is None or body_text.contains(self.match)


def parse_spec(spec: str) -> list[FaultRule]:
    """Parse ``ListUsers=throttle:0.2,PutItem=drop:0.05:when=after`` into rules: each
    ``Operation=kind[:fraction][:option=value...]``, the options being a JSON rule's keys."""
    rules = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        operation, sep, action = item.partition("=")
        if not sep or not operation:
            raise ValueError(f"bad fault {item!r}: expected Operation=kind[:fraction][:option=value...]")
        kind, *parts = action.split(":")
        rule: dict[str, Any] = {"operation": operation.strip(), "kind": kind.strip()}
        for position, part in enumerate(parts):
            name, is_option, value = part.partition("=")
            if is_option:
                rule[name.strip()] = value.strip()
            elif position == 0:
                rule["fraction"] = part or 1.0
            else:
                raise ValueError(f"bad fault {item!r}: only the fraction comes without a name")
        rules.append(FaultRule.from_json(rule))
    return rules


class _BodyText:
    """The request body as text plus its JSON string values, computed only if a rule asks."""

    def __init__(self, body: bytes):
        self._body = body
        self._texts: list[str] | None = None

    def contains(self, needle: str) -> bool:
        if self._texts is None:
            raw = self._body.decode("utf-8", "replace")
            self._texts = [raw]
            try:
                self._texts.extend(_strings(json.loads(raw)))
            except ValueError:
                pass
        return any(needle in text for text in self._texts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class FaultInjector:
    def __init__(self, rules: list[FaultRule] | None = None):
        self._rules = list(rules or [])
        self._lock = threading.Lock()
        self._random = random.Random()

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def decide(self, service: str, operation: str, body: bytes) -> FaultRule | None:
        """The rule whose fault this call meets, or None to let it through."""
        text = _BodyText(body)
        with self._lock:
            for rule in self._rules:
                if not rule.applies_to(service, operation, text):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                if self._random.random() < rule.fraction:
                    rule.injected += 1
                    return rule
        return None
