"""Injected failures: a fraction of matching calls fail with a throttling or an internal
error before the backend sees them (so a failed call changes nothing).

Rules come from ``--faults SPEC`` (``Operation=kind:fraction,...``) or as JSON from
``POST /_localaws/faults``:

    {"operation": "ListUsers", "kind": "throttle", "fraction": 1.0,
     "service": "cognito-idp", "match": "sub ^= \\"a\\"", "after": 0, "count": 3}

Only ``operation`` and ``kind`` are required. ``match`` is a substring the request body
must contain, either verbatim or inside one of its JSON string values (so quotes need no
JSON escaping). ``after`` lets the first N matching calls through; ``count`` caps the
number of injected failures. Rules are tried in order; the first that fires decides.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
from typing import Any

KINDS = ("throttle", "internal")


@dataclasses.dataclass
class FaultRule:
    operation: str
    kind: str
    fraction: float = 1.0
    service: str | None = None
    match: str | None = None
    after: int = 0
    count: int | None = None
    seen: int = 0  # matching calls so far
    injected: int = 0  # failures injected so far

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {self.kind!r}")
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"fault fraction must be within 0..1, not {self.fraction}")
        if self.after < 0 or (self.count is not None and self.count < 0):
            raise ValueError("fault 'after' and 'count' must be >= 0")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {"operation", "kind", "fraction", "service", "match", "after", "count"}
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
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def applies_to(self, service: str, operation: str, body_text: _BodyText) -> bool:
        if self.operation not in ("*", operation):
            return False
        if self.service is not None and self.service != service:
            return False
        return self.match is None or body_text.contains(self.match)


def parse_spec(spec: str) -> list[FaultRule]:
    """Parse ``ListUsers=throttle:0.2,AdminAddUserToGroup=internal:0.05`` into rules."""
    rules = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        operation, sep, action = item.partition("=")
        if not sep or not operation:
            raise ValueError(f"bad fault {item!r}: expected Operation=kind:fraction")
        kind, _, fraction = action.partition(":")
        rules.append(FaultRule(operation=operation.strip(), kind=kind.strip(), fraction=float(fraction or 1.0)))
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

    def decide(self, service: str, operation: str, body: bytes) -> str | None:
        """The kind of failure to inject into this call, or None to let it through."""
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
                    return rule.kind
        return None
