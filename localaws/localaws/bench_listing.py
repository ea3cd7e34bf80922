"""Benchmark: list every user of a seeded pool through boto3 over HTTP.

    python -m localaws.bench_listing [--users 100000] [--endpoint URL]

Without --endpoint it starts its own emulator (no latency, quotas off). Prints the
seconds to seed, to list all users (60 per page), and to list them again as the 16
``sub ^= "<hex digit>"`` shards, one after another.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from localaws.seed import seed_pool
from localaws.testing import Emulator

REGION = "us-east-1"


def list_all(cognito: Any, pool_id: str, filter_expression: str | None = None) -> list[str]:
    """Usernames of every user (matching the filter), page by page."""
    usernames: list[str] = []
    params: dict[str, Any] = {"UserPoolId": pool_id, "Limit": 60}
    if filter_expression:
        params["Filter"] = filter_expression
    while True:
        page = cognito.list_users(**params)
        usernames.extend(user["Username"] for user in page["Users"])
        token = page.get("PaginationToken")
        if not token:
            return usernames
        params["PaginationToken"] = token


@contextlib.contextmanager
def _endpoint(endpoint: str | None) -> Iterator[tuple[str, Any]]:
    if endpoint:
        from localaws.testing import DUMMY_CREDENTIALS

        import boto3

        yield endpoint, boto3.client(
            "cognito-idp",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        return
    with Emulator.start() as emulator:
        yield emulator.endpoint, emulator.client("cognito-idp", REGION)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--endpoint", help="an already running emulator")
    args = parser.parse_args(argv)

    with _endpoint(args.endpoint) as (endpoint, cognito):
        started = time.perf_counter()
        pool_id = seed_pool(endpoint, REGION, args.users, args.groups, seed=1)
        print(f"seed {args.users} users: {time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        everyone = list_all(cognito, pool_id)
        print(f"list all users (60 per page): {time.perf_counter() - started:.2f} s, {len(everyone)} users")

        started = time.perf_counter()
        sharded = [name for digit in "0123456789abcdef" for name in list_all(cognito, pool_id, f'sub ^= "{digit}"')]
        print(f'list via 16 sub ^= "<hex>" shards: {time.perf_counter() - started:.2f} s, {len(sharded)} users')

        if len(everyone) != args.users or sorted(sharded) != sorted(everyone):
            print("MISMATCH: the listings do not contain every user exactly once")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
