"""The `onestop` command.

  onestop token --roles R[,R] --jurisdictions CODE[,CODE] --agency NAME   print a JWT
  onestop serve SERVICE                                                   run one service
  onestop run                                                             the whole system (make run)
  onestop dead-letters SERVICE [--replay]                                 inspect or replay parked events
"""

from __future__ import annotations

import argparse
import sys

SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "routing": "services.routing.service:RoutingService",
    "mediation": "services.mediation.service:MediationService",
    "court_bridge": "services.court_bridge.service:CourtBridgeService",
    "notify": "services.notify.service:NotifyService",
}


def service_class(name: str):
    from importlib import import_module

    module_name, _, class_name = SERVICE_CLASSES[name].partition(":")
    return getattr(import_module(module_name), class_name)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def cmd_token(args) -> int:
    from services.common.auth import mint_token
    from services.common.config import load_config

    config = load_config(args.config)
    try:
        token = mint_token(
            config["ONESTOP_JWT_SECRET"],
            sub=args.sub or f"dev:{args.agency}",
            roles=_split(args.roles),
            jurisdictions=_split(args.jurisdictions),
            agency=args.agency,
            ttl_seconds=args.ttl,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_serve(args) -> int:
    import logging.config

    from nameko.cli.run import run

    from services.common.config import ConfigError, check_production_safety, load_config

    try:
        config = load_config(args.config, service=args.service)
        check_production_safety(config)
    except ConfigError as exc:
        print(f"onestop {args.service}: {exc}", file=sys.stderr)
        return 3
    if "LOGGING" in config:
        logging.config.dictConfig(config["LOGGING"])
    run([service_class(args.service)], config)
    return 0


def cmd_run(args) -> int:
    from services.common.launcher import launch

    return launch(args)


def cmd_dead_letters(args) -> int:
    from services.common.config import load_config
    from services.common.deadletters import show_or_replay

    return show_or_replay(load_config(args.config), args.service, replay=args.replay,
                          limit=args.limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onestop", description="OneStop platform commands")
    parser.add_argument("--config", default=None, help="YAML config (default config/onestop.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a JWT for development")
    token.add_argument("--roles", required=True)
    token.add_argument("--jurisdictions", required=True)
    token.add_argument("--agency", required=True)
    token.add_argument("--sub", default=None)
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    token.set_defaults(func=cmd_token)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=sorted(SERVICE_CLASSES))
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser("run", help="start the store, the five services and the court simulator")
    run.set_defaults(func=cmd_run)

    dead = sub.add_parser("dead-letters", help="list (or --replay) a service's dead-lettered events")
    dead.add_argument("service", choices=sorted(SERVICE_CLASSES))
    dead.add_argument("--replay", action="store_true")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(func=cmd_dead_letters)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"] or (len(argv) > 2 and argv[2:3] == ["serve"]):
        # Sockets must be green before pymongo, kombu or werkzeug import them.
        import eventlet

        eventlet.monkey_patch()
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
