"""How an MCP deployment supplies the trusted context: the operator fixes it for the server's
sessions, with ``--context KEY=VALUE`` (repeatable) or ``--context-env KEY=VARIABLE`` (the value
read from the server's environment, e.g. what the platform sets when it starts a stdio server for
one conversation). An MCP client, an LLM's agent loop, cannot choose or change it: no header or
``_meta`` field is read for it. A tool whose operation needs a key the server was not given is an
error result naming the key. No SDK import."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from custom_api_client._context import context_metadata
from custom_api_client.errors import InvalidArgument

__all__ = ["add_context_flags", "context_from_flags", "context_pairs"]


def add_context_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        f"--{prefix}context",
        action="append",
        metavar="KEY=VALUE",
        help="a trusted context value for every tool call (what `from_context: KEY` arguments take); repeatable",
    )
    parser.add_argument(
        f"--{prefix}context-env",
        action="append",
        metavar="KEY=VARIABLE",
        help="a trusted context value read from this environment variable; repeatable",
    )


def context_from_flags(
    args: argparse.Namespace, prefix: str = "", environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The context the flags give; ValueError naming a malformed flag or an unset variable, or a key
    or value out of bounds (never quoting a value)."""
    attr = prefix.replace("-", "_")
    env = os.environ if environ is None else environ
    context: dict[str, str] = {}
    for item in getattr(args, f"{attr}context") or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--{prefix}context {key[:64]!r}...: give KEY=VALUE")
        context[key] = value
    for item in getattr(args, f"{attr}context_env") or ():
        key, sep, variable = item.partition("=")
        if not sep or not variable:
            raise ValueError(f"--{prefix}context-env {item[:64]!r}: give KEY=VARIABLE")
        if variable not in env:
            raise ValueError(f"--{prefix}context-env {key[:64]!r}: environment variable {variable[:64]!r} is not set")
        context[key] = env[variable]
    try:
        context_metadata(context)  # the client's bounds, which the pipeline checks again
    except InvalidArgument as exc:
        raise ValueError(f"--{prefix}context: {exc.message}") from None
    return context


def context_pairs(context: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The metadata entries a tool call carries for ``context``, as a gRPC client sends them."""
    return context_metadata(context)
