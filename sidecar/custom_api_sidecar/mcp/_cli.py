"""``custom-api-sidecar mcp`` (stdio) and the MCP flags of ``serve`` (``--mcp-listen``).

The tool filter reads the same variables for both: ``CUSTOM_API_SIDECAR_MCP_APIS``,
``CUSTOM_API_SIDECAR_MCP_INCLUDE`` and ``CUSTOM_API_SIDECAR_MCP_EXCLUDE`` (comma-separated),
overridden by the flags. Nothing here imports the MCP SDK; ``run`` does, when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from ._context import add_context_flags, context_from_flags
from ._filter import ToolFilter
from ._sdk import missing_sdk
from ._settings import DEFAULT_MAX_LISTED, McpHttpSettings

if TYPE_CHECKING:
    from ..app import Sidecar

COMMAND = "mcp"
ENV_MCP_LISTEN = "CUSTOM_API_SIDECAR_MCP_LISTEN"
ENV_MCP_APIS = "CUSTOM_API_SIDECAR_MCP_APIS"
ENV_MCP_INCLUDE = "CUSTOM_API_SIDECAR_MCP_INCLUDE"
ENV_MCP_EXCLUDE = "CUSTOM_API_SIDECAR_MCP_EXCLUDE"
ENV_MCP_MAX_LISTED = "CUSTOM_API_SIDECAR_MCP_MAX_LISTED"


def add_filter_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--api``/``--include``/``--exclude``; for ``serve``, ``prefix="mcp-"`` (serve's gRPC serves everything)."""
    parser.add_argument(
        f"--{prefix}api",
        action="append",
        metavar="NAME",
        help=f"expose only this API's operations as tools; repeatable (${ENV_MCP_APIS}, comma-separated)",
    )
    parser.add_argument(
        f"--{prefix}include",
        action="append",
        metavar="PATTERN",
        help="expose only operations matching this glob on api.operation or the tool name; repeatable "
        f"(${ENV_MCP_INCLUDE})",
    )
    parser.add_argument(
        f"--{prefix}exclude",
        action="append",
        metavar="PATTERN",
        help=f"do not expose operations matching this glob (wins over include); repeatable (${ENV_MCP_EXCLUDE})",
    )


def add_max_listed_flag(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        f"--{prefix}max-listed",
        default=os.environ.get(ENV_MCP_MAX_LISTED, str(DEFAULT_MAX_LISTED)),
        metavar="N",
        help="past N exposed operations, tools/list gives search_operations plus the N most-used tools; every "
        f"tool stays callable by name (${ENV_MCP_MAX_LISTED}, default {DEFAULT_MAX_LISTED})",
    )


def max_listed_from_flags(args: argparse.Namespace, prefix: str = "") -> int:
    """ValueError naming the flag for anything but a whole number >= 1."""
    text = str(getattr(args, f"{prefix.replace('-', '_')}max_listed"))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--{prefix}max-listed must be a whole number of at least 1, not {text[:20]!r}")
    return int(text)


def tool_filter_from_flags(args: argparse.Namespace, prefix: str = "") -> ToolFilter:
    attr = prefix.replace("-", "_")

    def values(name: str, env: str) -> tuple[str, ...]:
        given = getattr(args, f"{attr}{name}")
        if given is None:
            given = [item.strip() for item in os.environ.get(env, "").split(",") if item.strip()]
        return tuple(given)

    return ToolFilter(
        apis=values("api", ENV_MCP_APIS),
        include=values("include", ENV_MCP_INCLUDE),
        exclude=values("exclude", ENV_MCP_EXCLUDE),
    )


def check_filter(tool_filter: ToolFilter, sidecar: Sidecar, flag_prefix: str = "--") -> None:
    """ValueError naming each filter part that names nothing in the config."""
    from ._tools import ExposedTools

    problems = tool_filter.problems(ExposedTools(sidecar.generation, tool_filter).operations, flag_prefix)
    if problems:
        raise ValueError("; ".join(problems))


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--mcp-listen",
        default=os.environ.get(ENV_MCP_LISTEN),
        metavar="HOST:PORT",
        help="serve the operations as MCP tools (Streamable HTTP at /mcp) on this address; loopback unless "
        f"--allow-remote; off by default (${ENV_MCP_LISTEN})",
    )
    add_filter_flags(serve, prefix="mcp-")
    add_context_flags(serve, prefix="mcp-")
    add_max_listed_flag(serve, prefix="mcp-")


def http_settings_from_flags(args: argparse.Namespace, sidecar: Sidecar) -> McpHttpSettings | None:
    """None without ``--mcp-listen``; ValueError for an unusable address or filter."""
    if not args.mcp_listen:
        return None
    problem = missing_sdk("--mcp-listen")
    if problem:
        raise ValueError(problem)
    from ..server import parse_listen

    listener = parse_listen(args.mcp_listen, args.allow_remote)
    if listener.socket_path is not None:
        raise ValueError(f"--mcp-listen {args.mcp_listen!r} must be host:port")
    host, _, port = listener.address.rpartition(":")
    tool_filter = tool_filter_from_flags(args, prefix="mcp-")
    check_filter(tool_filter, sidecar, "--mcp-")
    max_listed = max_listed_from_flags(args, prefix="mcp-")
    context = context_from_flags(args, prefix="mcp-")
    return McpHttpSettings(host.strip("[]"), int(port), tool_filter, context=context, max_listed=max_listed)


def add_parser(sub: Any, environment_flag: Any, config_env: str, log_level_env: str, audit_env: str) -> None:
    from ..policy import add_policy_flags
    from ..secrets._cli import add_vault_flags

    parser = sub.add_parser(
        COMMAND,
        help="serve the operations of a config file as MCP tools over stdin/stdout (for Claude Desktop, ...)",
        description="An MCP server on stdin/stdout: one tool per operation, each call through the sidecar's "
        "pipeline (credentials, egress policy, limits, tracing, audit). Logs go to stderr.",
    )
    parser.add_argument("--config", default=os.environ.get(config_env), help=f"config file (${config_env})")
    environment_flag(parser)
    add_filter_flags(parser)
    add_max_listed_flag(parser)
    parser.add_argument(
        "--log-level",
        default=os.environ.get(log_level_env, "INFO"),
        help=f"DEBUG, INFO, WARNING or ERROR (${log_level_env}, default INFO)",
    )
    parser.add_argument(
        "--audit-file",
        default=os.environ.get(audit_env),
        help=f"append JSON audit records to this file (not stdout: it carries the protocol) (${audit_env})",
    )
    parser.add_argument(
        "--jobs-db", help="SQLite file for background calls (default: none; background operations then fail)"
    )
    add_context_flags(parser)
    add_vault_flags(parser)
    add_policy_flags(parser)


def run(args: argparse.Namespace) -> int:
    """0 when the client closed the connection (or SIGTERM), 2 on bad usage or config."""
    from ..app import Sidecar
    from ..audit import AuditLog
    from ..config import ConfigError
    from ..jobs import SqliteJobStore
    from ..loader import load_config
    from ..policy import policy_from_flags
    from ..secrets._cli import vault_settings_from_flags
    from ..server import run as run_loop
    from ..tracing import make_tracer_provider

    # stderr only: stdout is the protocol
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    name = f"custom-api-sidecar {COMMAND}"
    problem = missing_sdk(name)
    if problem:
        print(f"{name}: {problem}", file=sys.stderr)
        return 2
    if not args.config:
        print(f"{name}: give --config FILE or set $CUSTOM_API_SIDECAR_CONFIG", file=sys.stderr)
        return 2
    if args.audit_file == "-":
        print(f"{name}: --audit-file cannot be stdout ('-'): stdout carries the MCP protocol", file=sys.stderr)
        return 2
    tool_filter = tool_filter_from_flags(args)
    try:
        max_listed = max_listed_from_flags(args)
        policy = policy_from_flags(args)
        sidecar = Sidecar(
            load_config(args.config, policy),
            args.environment,
            policy=policy,
            tracer_provider=make_tracer_provider(),
            vault_settings=vault_settings_from_flags(args),
            audit=AuditLog(args.audit_file) if args.audit_file else None,
            job_store=SqliteJobStore(args.jobs_db) if args.jobs_db else None,
        )
        check_filter(tool_filter, sidecar)
        context = context_from_flags(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    from ..errors import StartupError
    from .transports.stdio import serve_stdio

    try:
        run_loop(serve_stdio(sidecar, tool_filter, context, max_listed))
    except StartupError as exc:  # e.g. --jobs-db unusable or in use by another sidecar
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    return 0
