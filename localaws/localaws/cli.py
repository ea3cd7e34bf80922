"""Command line: ``localaws serve`` runs the emulator, ``localaws seed`` fills a new pool."""

from __future__ import annotations

import argparse
import sys

from localaws.config import QUOTA_MODES, Settings
from localaws.faults import parse_spec
from localaws.seed import MFA_MODES, USERNAME_ATTRIBUTES, seed_pool


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localaws", description="Local AWS emulator for development and tests.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the emulator in the foreground until killed")
    serve.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every AWS call")
    serve.add_argument("--quotas", choices=QUOTA_MODES, default="off", help="enforce Cognito rate quotas")
    serve.add_argument("--faults", default="", metavar="SPEC", help="e.g. ListUsers=throttle:0.2,PutItem=drop:0.05:when=after,*=delay:0.01:seconds=3")
    serve.add_argument("--request-log", metavar="FILE", help="append one JSON line per AWS call")
    serve.add_argument("--stall-log", metavar="FILE", help="append the emulator's own pauses (see localaws.stalls)")
    serve.add_argument("--import-rate", type=float, default=1000.0, metavar="USERS_PER_SECOND", help="Cognito import job speed")
    serve.add_argument("--pitr-lag", type=float, default=300.0, metavar="SECONDS", help="how far LatestRestorableDateTime trails now")

    seed = commands.add_parser("seed", help="create a new user pool full of test users; prints its id")
    seed.add_argument("--endpoint", required=True, help="the emulator, e.g. http://127.0.0.1:4566")
    seed.add_argument("--region", required=True)
    seed.add_argument("--users", type=int, required=True)
    seed.add_argument("--groups", type=int, required=True)
    seed.add_argument("--seed", type=int, default=0, help="same seed, same data")
    seed.add_argument("--username-attribute", choices=USERNAME_ATTRIBUTES, default="none")
    seed.add_argument("--one-group-each", action="store_true", help="every user in exactly one group, round robin")
    seed.add_argument("--federated", type=int, default=0, metavar="K", help="add K EXTERNAL_PROVIDER users")
    seed.add_argument("--mfa", choices=MFA_MODES, default="OFF")
    seed.add_argument("--pool-name")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from localaws.server import build_app, serve  # imports moto: only when serving

        try:
            faults = parse_spec(args.faults)
            settings = Settings(latency_ms=args.latency_ms, quotas=args.quotas, import_rate=args.import_rate, pitr_lag=args.pitr_lag)
            app = build_app(settings, faults, args.request_log, args.stall_log)
        except ValueError as error:
            print(f"localaws: {error}", file=sys.stderr)
            return 2
        serve(args.host, args.port, app)
        return 0

    try:
        pool_id = seed_pool(
            args.endpoint,
            args.region,
            args.users,
            args.groups,
            seed=args.seed,
            username_attribute=args.username_attribute,
            one_group_each=args.one_group_each,
            federated=args.federated,
            mfa=args.mfa,
            pool_name=args.pool_name,
        )
    except (OSError, RuntimeError) as error:
        print(f"localaws seed: {error}", file=sys.stderr)
        return 1
    print(pool_id)
    return 0
