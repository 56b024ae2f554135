"""Agent-side client for custom-api-sidecar: ``conv.api.<api>.<operation>(...)``.

    from custom_api_client import connect
    conv = connect()                       # argument, else $CUSTOM_API_SIDECAR, else the default socket
    r = conv.api.salesforce.get_contact("123")
    r.raise_for_status(); r.json()

Needs only grpcio and protobuf; imports nothing from the sidecar. Public modules the
sidecar shares: ``proto`` (the generated contract), ``values`` (the Value codec),
``discovery`` and ``tools`` (one implementation of schemas and LLM tool shapes).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import errors
from ._conv import AsyncConv, Conv
from ._jobs import Job
from ._log import AsyncConvLog, ConvLog
from ._request import RESERVED as RESERVED_ARGUMENTS
from ._request import build_invoke_request
from ._response import Headers, Response
from ._search import SearchResult
from ._target import DEFAULT_TARGET, TARGET_ENV
from .errors import CustomApiError, HTTPError


def connect(
    target: str | None = None,
    *,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    context: Mapping[str, str] | None = None,
) -> Conv:
    """A synchronous ``conv``. ``target`` is a gRPC target: ``unix:///path``, ``host:port``.
    ``conversation_id`` / ``agent_id`` go with every call and log entry (``conv.set_context`` changes them);
    ``context``: trusted values (``{"caller_number": "+441234567890"}``) that arguments configured
    ``from_context:`` take, never the LLM (at most 16 keys of ``[a-z][a-z0-9_]*``, values 1-256 characters)."""
    return Conv(target, conversation_id=conversation_id, agent_id=agent_id, context=context)


def connect_async(
    target: str | None = None,
    *,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    context: Mapping[str, str] | None = None,
) -> AsyncConv:
    """An asyncio ``conv``: ``await conv.api.<api>.<op>(...)``."""
    return AsyncConv(target, conversation_id=conversation_id, agent_id=agent_id, context=context)


__all__ = [
    "DEFAULT_TARGET",
    "RESERVED_ARGUMENTS",
    "TARGET_ENV",
    "AsyncConv",
    "AsyncConvLog",
    "Conv",
    "ConvLog",
    "CustomApiError",
    "HTTPError",
    "Headers",
    "Job",
    "Response",
    "SearchResult",
    "build_invoke_request",
    "connect",
    "connect_async",
    "errors",
]
