"""``custom-api-sidecar``: serve, validate, tools, search, test, health, import-openapi, mcp.

Every setting is a flag falling back to a documented environment variable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from custom_api_client import DEFAULT_TARGET

from ._version import __version__
from .admission import DEFAULT_MAX_IN_FLIGHT
from .config import ENVIRONMENTS, ApiConfig, ConfigError
from .config._model import ENVIRONMENT_ALIASES
from .loader import imported_entry_problems, load_config, may_reach_private
from .mcp import _cli as mcp_cli
from .openapi import _cli as openapi_cli
from .policy import OperatorPolicy, add_policy_flags, policy_from_flags
from .secrets._cli import add_vault_flags, check_references, vault_settings_from_flags
from .secrets._store import SecretStore

if TYPE_CHECKING:
    from .admin import AdminSettings  # aiohttp.web: imported only when the admin listener is on

ENV_CONFIG = "CUSTOM_API_SIDECAR_CONFIG"
ENV_ENVIRONMENT = "CUSTOM_API_SIDECAR_ENVIRONMENT"
ENV_LISTEN = "CUSTOM_API_SIDECAR_LISTEN"
ENV_LOG_LEVEL = "CUSTOM_API_SIDECAR_LOG_LEVEL"
ENV_LOG_FORMAT = "CUSTOM_API_SIDECAR_LOG_FORMAT"
ENV_AUDIT_FILE = "CUSTOM_API_SIDECAR_AUDIT_FILE"
ENV_ADMIN_LISTEN = "CUSTOM_API_SIDECAR_ADMIN_LISTEN"
ENV_ADMIN_TOKEN = "CUSTOM_API_SIDECAR_ADMIN_TOKEN"
ENV_HEALTH_LISTEN = "CUSTOM_API_SIDECAR_HEALTH_LISTEN"
ENV_JOBS_DB = "CUSTOM_API_SIDECAR_JOBS_DB"
ENV_MAX_IN_FLIGHT = "CUSTOM_API_SIDECAR_MAX_IN_FLIGHT"
ENV_CACHE_MAX_BYTES = "CUSTOM_API_SIDECAR_CACHE_MAX_BYTES"
ENV_JOBS_MAX_SIZE = "CUSTOM_API_SIDECAR_JOBS_MAX_SIZE"
ENV_AGENT_TEST_CONNECTION = "CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION"
ENVIRONMENT_CHOICES = (*ENVIRONMENTS, *ENVIRONMENT_ALIASES)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="custom-api-sidecar", description="Lets AI agents call their customers' HTTP APIs safely."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
        "--log-level",
        default=os.environ.get(ENV_LOG_LEVEL, "INFO"),
        help=f"DEBUG, INFO, WARNING or ERROR (${ENV_LOG_LEVEL}, default INFO)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get(ENV_LOG_FORMAT, "text"),
        help=f"per call: a human access line on stderr (text), or a JSON audit record (json) (${ENV_LOG_FORMAT})",
    )
    serve.add_argument(
        "--audit-file",
        default=os.environ.get(ENV_AUDIT_FILE),
        help="append JSON audit records to this file ('-': stdout, the default with --log-format json) "
        f"(${ENV_AUDIT_FILE})",
    )
    serve.add_argument(
        "--admin-listen",
        default=os.environ.get(ENV_ADMIN_LISTEN),
        help=f"host:port for /metrics and the dashboard; loopback unless --allow-remote; off by default "
        f"(${ENV_ADMIN_LISTEN})",
    )
    serve.add_argument(
        "--admin-token",
        default=os.environ.get(ENV_ADMIN_TOKEN),
        metavar="REF",
        help="a secret reference (vault://, env://, file://) to a token every admin request must send as "
        f"Authorization: Bearer <token>; the dashboard page asks for it (${ENV_ADMIN_TOKEN}; default: none)",
    )
    serve.add_argument(
        "--jobs-db",
        default=os.environ.get(ENV_JOBS_DB),
        help="SQLite file for background calls, on a volume that outlives the process "
        f"(${ENV_JOBS_DB}; default: next to the first unix socket, <socket>.jobs.sqlite3)",
    )
    serve.add_argument(
        "--jobs-max-size",
        default=os.environ.get(ENV_JOBS_MAX_SIZE),
        help="the disk the job store may use, e.g. its volume's size (256Mi); at least 16Mi. The database "
        "stays within about half (the rest is for its log); when full, new background calls are refused "
        f"and a response that does not fit fails its job (${ENV_JOBS_MAX_SIZE}; default: no limit)",
    )
    serve.add_argument("--jobs-concurrency", type=int, default=4, help="background jobs run at once (default 4)")
    serve.add_argument(
        "--max-in-flight",
        type=_positive_int,
        default=os.environ.get(ENV_MAX_IN_FLIGHT, str(DEFAULT_MAX_IN_FLIGHT)),  # argparse converts a str default
        metavar="N",
        help="Invoke calls (gRPC and MCP) at once; past it a call gets OVERLOADED, a retryable error "
        f"(${ENV_MAX_IN_FLIGHT}, default {DEFAULT_MAX_IN_FLIGHT})",
    )
    serve.add_argument(
        "--cache-max-bytes",
        type=_cache_max_bytes,
        default=os.environ.get(ENV_CACHE_MAX_BYTES, "64Mi"),  # argparse converts a str default
        metavar="SIZE",
        help="memory for cached answers (operations configured with cache:), least recently used out "
        "first; an answer over an eighth of it is not cached; 0 turns caching off "
        f"(${ENV_CACHE_MAX_BYTES}, default 64Mi)",
    )
    serve.add_argument(
        "--health-listen",
        default=os.environ.get(ENV_HEALTH_LISTEN),
        help="host:port serving grpc.health.v1 only, for kubelet grpc probes (may be 0.0.0.0: nothing else is "
        f"served there); off by default (${ENV_HEALTH_LISTEN})",
    )
    serve.add_argument(
        "--agent-test-connection",
        type=_on_off,
        default=os.environ.get(ENV_AGENT_TEST_CONNECTION, "on"),
        metavar="on|off",
        help="TestConnection from the agent: each API checked at most once per 30 s (a repeat gets that "
        f"report again); off: DISABLED_BY_OPERATOR. `test` is not affected (${ENV_AGENT_TEST_CONNECTION}, "
        "default on)",
    )
    mcp_cli.add_serve_flags(serve)
    add_vault_flags(serve)
    add_policy_flags(serve)

    validate = sub.add_parser("validate", help="check a config file and exit")
    validate.add_argument("file", help="the config file to check (YAML, or JSON when it ends in .json)")
    _environment_flag(validate)
    validate.add_argument(
        "--offline", action="store_true", help="check env:// and file:// references only, do not contact Vault"
    )
    add_vault_flags(validate)
    add_policy_flags(validate)

    tools = sub.add_parser("tools", help="print LLM tool definitions (JSON) for the operations of a config file")
    tools.add_argument("--config", default=os.environ.get(ENV_CONFIG), help=f"config file (${ENV_CONFIG})")
    _environment_flag(tools)
    tools.add_argument(
        "--format",
        choices=("openai", "anthropic", "mcp"),
        default="openai",
        help="the tool-definition shape of this LLM API (default openai)",
    )
    tools.add_argument("--api", action="append", help="only this API; repeatable (default: all)")
    add_policy_flags(tools)

    search = sub.add_parser(
        "search",
        help="find the operations of a config file that best match what an agent wants, in words",
        description="The operations (across every API) that best match TEXT, best first, as conv.api.search "
        "answers: api.operation, score, tool name and description (--format json: with each tool definition).",
    )
    search.add_argument("text", help='what the agent wants, e.g. "post a message to the #support channel"')
    search.add_argument("--config", default=os.environ.get(ENV_CONFIG), help=f"config file (${ENV_CONFIG})")
    _environment_flag(search)
    search.add_argument("--limit", type=int, default=5, help="at most this many results, 1..50 (default 5)")
    search.add_argument(
        "--format", choices=("text", "json"), default="text", help="text: one line per result; json: with each tool"
    )
    add_policy_flags(search)

    test = sub.add_parser(
        "test", help="test each API's connection: DNS, TCP, TLS, credentials, safe endpoints, response schemas"
    )
    test.add_argument("--config", default=os.environ.get(ENV_CONFIG), help=f"config file (${ENV_CONFIG})")
    _environment_flag(test)
    test.add_argument("--api", action="append", help="only this API; repeatable (default: all)")
    test.add_argument(
        "--format", choices=("text", "json"), default="text", help="text: a report per API; json: one document"
    )
    add_vault_flags(test)
    add_policy_flags(test)

    health = sub.add_parser("health", help="ask a sidecar's health service; exit 0 when it is SERVING")
    health.add_argument(
        "--target", default=DEFAULT_TARGET, help=f"unix:///path or host:port (default {DEFAULT_TARGET})"
    )
    health.add_argument("--service", default="", help="the service to ask about (default: the whole server)")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")

    openapi_cli.add_parser(sub)
    mcp_cli.add_parser(sub, _environment_flag, ENV_CONFIG, ENV_LOG_LEVEL, ENV_AUDIT_FILE)
    return parser


def _cache_max_bytes(text: str) -> int:
    from .quantity import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"must be on or off, not {text[:20]!r}")
    return text == "on"


def _environment_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--environment",
        default=os.environ.get(ENV_ENVIRONMENT, "sandbox"),
        help=f"one of {', '.join(ENVIRONMENT_CHOICES)} (${ENV_ENVIRONMENT}, default sandbox)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == openapi_cli.COMMAND:
        return openapi_cli.run(args, check=imported_entry_problems)
    if args.command == "health":
        return _health(args)
    if args.environment not in ENVIRONMENT_CHOICES:
        choices = ", ".join(ENVIRONMENT_CHOICES)
        print(f"custom-api-sidecar: unknown environment {args.environment!r}; use one of {choices}", file=sys.stderr)
        return 2
    if args.command == "validate":
        return _validate(args)
    if args.command == "test":
        return _test(args)
    if args.command == "tools":
        return _tools(args)
    if args.command == "search":
        return _search(args)
    if args.command == mcp_cli.COMMAND:
        return mcp_cli.run(args)
    return _serve(args)


def _print_informational(name: str, api: ApiConfig) -> None:
    """Seed 004's display name and bookkeeping, when given: shown, never used to make a call."""
    parts = [f'"{api.display_name}"'] if api.display_name else []
    info = api.informational.as_dict()
    if info:
        parts.append(f"informational {json.dumps(info, sort_keys=True)}")
    if parts:
        print(f"  {name}: {' '.join(parts)}")


def _validate(args: argparse.Namespace) -> int:
    from .app import Sidecar

    # Load-time warnings (a schema pattern that is not enforced) are part of the report.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        policy = policy_from_flags(args)
        config = load_config(args.file, policy)
        sidecar = Sidecar(config, args.environment, vault_settings=vault_settings_from_flags(args), policy=policy)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValueError as exc:  # unusable Vault settings
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    registry = sidecar.registry
    operations = sum(len(api.operations) for api in registry.apis.values())
    print(f"{args.file}: OK: {len(registry.apis)} APIs, {operations} operations (environment {registry.environment})")
    for name, api in registry.apis.items():
        _print_informational(name, api.config)
        http = ", plain http allowed" if api.config.connection.allow_http else ""
        print(f"  {name}: egress: {may_reach_private(api.config)}{http}")
        imported = api.config.openapi
        if imported is not None:
            see = " (see the warnings above)" if imported.skipped else ""
            print(f"  {name}: openapi: {imported.summary()}{see}")
    _print_policy(policy)
    return _report_secrets(sidecar.secrets, args.offline)


def _print_policy(policy: OperatorPolicy) -> None:
    print("operator policy:")
    for line in policy.describe():
        print(f"  {line}")


def _report_secrets(store: SecretStore, offline: bool) -> int:
    """Resolve every secret reference once and list them (never a value); 1 if any does not resolve."""
    statuses = check_references(store, offline=offline)
    failed = [status for status in statuses if not status.ok]
    if statuses:
        print(f"secrets: {len(statuses) - len(failed)} of {len(statuses)} references resolve")
    for status in statuses:
        print(f"  {'ok  ' if status.ok else 'FAIL'} {status.text}: {status.detail}")
    return 1 if failed else 0


def _tools(args: argparse.Namespace) -> int:
    import json

    from .describe import tool_definitions
    from .registry import Registry

    if not args.config:
        print(f"custom-api-sidecar tools: give --config FILE or set ${ENV_CONFIG}", file=sys.stderr)
        return 2
    try:
        registry = Registry(load_config(args.config, policy_from_flags(args)), args.environment)
        tools = tool_definitions(registry, args.format, args.api)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except LookupError as exc:  # an --api that is not configured
        print(f"custom-api-sidecar tools: {exc.args[0]}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad policy flag or variable
        print(f"custom-api-sidecar tools: {exc}", file=sys.stderr)
        return 2
    # Written as it is encoded: a 1,200-operation spec's MCP tools are 48 MB of JSON.
    json.dump(tools, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _search(args: argparse.Namespace) -> int:
    """0 with results (or none: an answer too), 1 for a config problem, 2 for bad usage or query."""
    from google.protobuf.json_format import MessageToDict

    from .errors import SidecarError
    from .registry import Registry
    from .search import SearchIndex
    from .search._serve import search

    name = "custom-api-sidecar search"
    if not args.config:
        print(f"{name}: give --config FILE or set ${ENV_CONFIG}", file=sys.stderr)
        return 2
    try:
        registry = Registry(load_config(args.config, policy_from_flags(args)), args.environment)
        answer = search((registry, SearchIndex(registry)), args.text, args.limit)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except SidecarError as exc:  # the query's or the limit's bounds
        print(f"{name}: {exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad policy flag or variable
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        found = [MessageToDict(r, preserving_proto_field_name=True) for r in answer.results]
        for entry in found:
            entry["tool"] = json.loads(entry.pop("tool_json"))
        json.dump(found, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not answer.results:
        print("no operation matches")
    for r in answer.results:
        summary = r.description.strip().splitlines()[0] if r.description.strip() else ""
        print(f"{r.score:8.3f}  {r.api}.{r.operation}  (tool {r.tool_name})  {summary[:100]}")
    return 0


def _health(args: argparse.Namespace) -> int:
    """For exec probes and `helm test`: prints the status; 0 when SERVING, 1 otherwise."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(args.target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
    except grpc.RpcError as exc:
        print(f"{args.target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.target}: {status}")
    return 0 if status == "SERVING" else 1


def _test(args: argparse.Namespace) -> int:
    """Exit 0 when every check of every API passed (skipped ones aside), 1 otherwise, 2 on bad usage."""
    from .app import Sidecar
    from .connection_check import ConnectionChecker, reports_json
    from .errors import SidecarError
    from .server import run

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.config:
        print(f"custom-api-sidecar test: give --config FILE or set ${ENV_CONFIG}", file=sys.stderr)
        return 2
    try:
        policy = policy_from_flags(args)
        sidecar = Sidecar(
            load_config(args.config, policy),
            args.environment,
            vault_settings=vault_settings_from_flags(args),
            access_log=False,
            policy=policy,
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"custom-api-sidecar test: {exc}", file=sys.stderr)
        return 2

    async def check() -> list:
        await sidecar.start()
        try:
            return await ConnectionChecker(sidecar).run(args.api)
        finally:
            await sidecar.aclose()

    try:
        reports = run(check())
    except SidecarError as exc:  # an --api that is not configured
        print(f"custom-api-sidecar test: {exc.message}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(reports_json(reports))
    else:
        print("\n".join(report.as_text() for report in reports))
    return 0 if all(report.ok for report in reports) else 1


def _default_jobs_db(listeners: list[Any]) -> str:
    """Beside the first unix socket (a folder that outlives a sidecar restart), else in the
    temporary directory. The chart gives the store a volume of its own instead: the socket's
    folder is shared with the agent, which must not read or edit jobs."""
    sockets = [listener.socket_path for listener in listeners if listener.socket_path]
    if sockets:
        return f"{sockets[0]}.jobs.sqlite3"
    return os.path.join(tempfile.gettempdir(), "custom-api-sidecar", "jobs.sqlite3")


def _jobs_max_bytes(text: str) -> int:
    """--jobs-max-size in bytes; ValueError naming the flag."""
    from .jobs._store import MIN_MAX_BYTES
    from .quantity import parse_size

    try:
        size = parse_size(text)
    except ValueError as exc:
        raise ValueError(f"--jobs-max-size: {exc}") from None
    if size < MIN_MAX_BYTES:
        raise ValueError(f"--jobs-max-size must be at least 16Mi (got {size} bytes)")
    return size


def _admin_settings(address: str, allow_remote: bool, token: str | None) -> AdminSettings:
    """The admin listener's host and port (TCP only; loopback unless --allow-remote) and token reference."""
    from .admin import AdminSettings
    from .secrets import parse_reference
    from .server import parse_listen

    listener = parse_listen(address, allow_remote)
    if listener.socket_path is not None:
        raise ValueError(f"--admin-listen {address!r} must be host:port")
    host, _, port = listener.address.rpartition(":")
    try:  # the operator's own reference: any scheme, path or variable (no API-definition policy applies)
        ref = parse_reference(token) if token else None
    except ValueError as exc:  # the message never echoes a value that is not a reference
        raise ValueError(f"--admin-token: {exc}") from None
    return AdminSettings(host.strip("[]"), int(port), ref)


def _serve(args: argparse.Namespace) -> int:
    from opentelemetry import metrics as otel_metrics

    from .agent_connection_tests import AgentTestSettings
    from .app import Sidecar
    from .audit import AuditLog
    from .errors import StartupError
    from .jobs import SqliteJobStore
    from .metrics import make_metrics
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
        jobs_max_bytes = _jobs_max_bytes(args.jobs_max_size) if args.jobs_max_size else None
        admin = _admin_settings(args.admin_listen, args.allow_remote, args.admin_token) if args.admin_listen else None
        health_listen = parse_listen(args.health_listen, allow_remote=True).address if args.health_listen else None
        if health_listen and health_listen.startswith("unix:"):
            raise ValueError(f"--health-listen {args.health_listen!r} must be host:port")
        metrics = make_metrics(admin=admin is not None)
        if metrics.provider is not None:
            otel_metrics.set_meter_provider(metrics.provider)  # the secret store's and OAuth2's counters too
        audit_file = args.audit_file or ("-" if args.log_format == "json" else None)
        policy = policy_from_flags(args)
        sidecar = Sidecar(
            load_config(args.config, policy),
            args.environment,
            policy=policy,
            tracer_provider=make_tracer_provider(),
            vault_settings=vault_settings_from_flags(args),
            metrics=metrics,
            audit=AuditLog(audit_file) if audit_file else None,
            access_log=args.log_format == "text",
            job_store=SqliteJobStore(args.jobs_db or _default_jobs_db(listeners), jobs_max_bytes),
            job_concurrency=args.jobs_concurrency,
            max_in_flight=args.max_in_flight,
            cache_max_bytes=args.cache_max_bytes,
        )
        mcp = mcp_cli.http_settings_from_flags(args, sidecar)  # None without --mcp-listen
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"custom-api-sidecar serve: {exc}", file=sys.stderr)
        return 2
    try:
        # stdout carries only JSON when the audit stream is there; startup lines go to stderr then
        announce = _announce_stderr if audit_file == "-" else _announce
        run(
            serve(
                sidecar,
                listeners,
                grace=args.grace,
                socket_mode=socket_mode,
                announce=announce,
                admin=admin,
                health_listen=health_listen,
                config_path=args.config,
                mcp=mcp,
                agent_tests=AgentTestSettings(enabled=args.agent_test_connection),
            )
        )
    except (ListenError, StartupError) as exc:
        print(f"custom-api-sidecar serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _announce(line: str) -> None:
    print(line, flush=True)


def _announce_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
