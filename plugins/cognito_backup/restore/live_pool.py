"""Restoring into a live pool (`target_mode: missing_only`): what a run may touch.

The target holds users and groups the run must leave exactly as they are, whatever the backup
says of them: only backed-up users whose sign-in name is absent are created, only missing
groups and memberships added. A restore has no other record of what it made than the pool
itself, so "made by this run" is read off each user: created after the run started, and either
carrying a legacy sub (which only a restore writes) or in a status only a restore's creation
gives (`FORCE_CHANGE_PASSWORD` before the reset, `RESET_REQUIRED` after it or after a CSV import
job). A user who signed up again meanwhile is `UNCONFIRMED` or `CONFIRMED`: never touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

NEW_POOL = "new_pool"
MISSING_ONLY = "missing_only"
TARGET_MODES = (NEW_POOL, MISSING_ONLY)

RESTORE_STATUSES = ("FORCE_CHANGE_PASSWORD", "RESET_REQUIRED")


def epoch(value: Any) -> float:
    """A Cognito timestamp (datetime from boto3, or epoch seconds) as epoch seconds; 0 when absent."""
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def made_by_this_run(created: float, status: str, legacy: str | None, since: float | None) -> bool:
    """Whether a target user was created by the restore run that started at `since`.

    `since` None: not a live pool restore, where every user of the target is the restore's own.
    """
    if since is None:
        return True
    return created >= since and (bool(legacy) or status in RESTORE_STATUSES)
