"""``custom-api-sidecar``: serve, validate.

Every setting is a flag falling back to a documented environment variable.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from client._target import DEFAULT_TARGET

from .config import ENVIRONMENTS, ConfigError, load_config
from .config._model import ENVIRONMENT_ALIASES

ENV_CONFIG = "CUSTOM_API_SIDECAR_CONFIG"
ENV_ENVIRONMENT = "CUSTOM_API_SIDECAR_ENVIRONMENT"
ENV_LISTEN = "CUSTOM_API_SIDECAR_LISTEN"
ENV_LOG_LEVEL = "CUSTOM_API_SIDECAR_LOG_LEVEL"
ENVIRONMENT_CHOICES = (*ENVIRONMENTS, *ENVIRONMENT_ALIASES)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="custom-api-sidecar", description="Lets AI agents call their customers' HTTP APIs safely."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the APIs of a config file over gRPC")
    serve.add_argument("--config", default=os.environ.get(ENV_CONFIG), help=f"config file (${ENV_CONFIG})")
    _environment_flag(serve)
    serve.add_argument(
        "--listen",
        action="append",
        help=f"unix:///path or host:port; repeatable (${ENV_LISTEN}, comma-separated; default {DEFAULT_TARGET})",
    )
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback TCP listen address")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds to drain in-flight calls on SIGTERM")
    serve.add_argument("--socket-mode", default="0600", help="unix socket permissions, octal (default 0600)")
    serve.add_argument(
        "--log-level", default=os.environ.get(ENV_LOG_LEVEL, "INFO"), help=f"(${ENV_LOG_LEVEL}, default INFO)"
    )

    validate = sub.add_parser("validate", help="check a config file and exit")
    validate.add_argument("file")
    _environment_flag(validate)
    return parser


def _environment_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--environment",
        default=os.environ.get(ENV_ENVIRONMENT, "sandbox"),
        help=f"one of {', '.join(ENVIRONMENT_CHOICES)} (${ENV_ENVIRONMENT}, default sandbox)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.environment not in ENVIRONMENT_CHOICES:
        choices = ", ".join(ENVIRONMENT_CHOICES)
        print(f"custom-api-sidecar: unknown environment {args.environment!r}; use one of {choices}", file=sys.stderr)
        return 2
    if args.command == "validate":
        return _validate(args)
    return _serve(args)


def _validate(args: argparse.Namespace) -> int:
    from .registry import Registry

    try:
        config = load_config(args.file)
        registry = Registry(config, args.environment)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    operations = sum(len(api.operations) for api in registry.apis.values())
    print(f"{args.file}: OK: {len(registry.apis)} APIs, {operations} operations (environment {registry.environment})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .app import Sidecar
    from .server import ListenError, parse_listen, run, serve
    from .tracing import make_tracer_provider

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.config:
        print(f"custom-api-sidecar serve: give --config FILE or set ${ENV_CONFIG}", file=sys.stderr)
        return 2
    listen = args.listen or [a for a in os.environ.get(ENV_LISTEN, "").split(",") if a] or [DEFAULT_TARGET]
    try:
        listeners = [parse_listen(address, args.allow_remote) for address in listen]
        socket_mode = int(args.socket_mode, 8)
        sidecar = Sidecar(load_config(args.config), args.environment, tracer_provider=make_tracer_provider())
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"custom-api-sidecar serve: {exc}", file=sys.stderr)
        return 2
    try:
        run(serve(sidecar, listeners, grace=args.grace, socket_mode=socket_mode, announce=_announce))
    except ListenError as exc:
        print(f"custom-api-sidecar serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _announce(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
