"""Client side of seeding: ask a running emulator to create and fill a new user pool.

One HTTP request to the emulator's control API; the emulator generates the users and
inserts them in-process (see ``localaws.population``), so 100,000 users take seconds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

SEED_PATH = "/_localaws/seed"
MFA_MODES = ("OFF", "OPTIONAL", "ON")
USERNAME_ATTRIBUTES = ("email", "none")


def seed_pool(
    endpoint: str,
    region: str,
    users: int,
    groups: int,
    *,
    seed: int = 0,
    username_attribute: str = "none",
    one_group_each: bool = False,
    federated: int = 0,
    mfa: str = "OFF",
    pool_name: str | None = None,
    timeout: float = 300,
) -> str:
    """Create a new pool in ``region`` with ``users`` users and ``groups`` groups; return its id."""
    options: dict[str, Any] = {
        "users": users,
        "groups": groups,
        "seed": seed,
        "username_attribute": username_attribute,
        "one_group_each": one_group_each,
        "federated": federated,
        "mfa": mfa,
        "pool_name": pool_name,
    }
    result = post_json(endpoint, SEED_PATH, {"region": region, **options}, timeout)
    return result["UserPoolId"]


def post_json(endpoint: str, path: str, payload: Any, timeout: float = 30) -> Any:
    """POST JSON to the emulator's control API and return the decoded reply.

    Raises RuntimeError with the emulator's message when it refuses the request.
    """
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{path}: HTTP {error.code}: {error.read().decode(errors='replace')}") from None
