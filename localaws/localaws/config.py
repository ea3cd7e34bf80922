"""Runtime settings of a running emulator, changeable through POST /_localaws/config."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

QUOTA_MODES = ("aws", "off")


@dataclasses.dataclass
class Settings:
    latency_ms: float = 0.0
    quotas: str = "off"
    import_rate: float = 1000.0  # Cognito import-job users processed per second
    replica_delay: float = 1.0  # seconds a DynamoDB replica stays CREATING / DELETING
    pitr_lag: float = 300.0  # seconds LatestRestorableDateTime trails now (AWS: about 5 minutes)
    restore_delay: float = 2.0  # seconds a table restored to a point in time stays CREATING

    def validate(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.quotas not in QUOTA_MODES:
            raise ValueError(f"quotas must be one of {QUOTA_MODES}")
        if self.import_rate <= 0:
            raise ValueError("import_rate must be > 0")
        for name in ("replica_delay", "pitr_lag", "restore_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


class RuntimeConfig:
    """The current settings plus the ones the server started with (restored by reset)."""

    def __init__(self, initial: Settings):
        initial.validate()
        self._initial = initial
        self._current = dataclasses.replace(initial)
        self._lock = threading.Lock()

    @property
    def current(self) -> Settings:
        return self._current

    def update(self, changes: dict[str, Any]) -> Settings:
        known = {f.name: f.type for f in dataclasses.fields(Settings)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        coerced = {k: (str(v) if k == "quotas" else float(v)) for k, v in changes.items()}
        with self._lock:
            candidate = dataclasses.replace(self._current, **coerced)
            candidate.validate()
            self._current = candidate
            return candidate

    def restore(self) -> None:
        with self._lock:
            self._current = dataclasses.replace(self._initial)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self._current)
