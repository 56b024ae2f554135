"""What flows through the pipeline: one mutable Call, one UpstreamResponse out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from custom_api_client.proto.sidecar_pb2 import InvokeResponse, KeyValue

if TYPE_CHECKING:
    from custom_api_client.proto.sidecar_pb2 import InvokeRequest

    from ..registry import Operation


@dataclass(slots=True)
class OutboundRequest:
    """The HTTP request being prepared; auth stages add headers and query params."""

    method: str
    origin: str  # scheme://host[:port]
    path: str  # percent-encoded, base path included
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    content: bytes | None = None
    # Names whose values must never leave the sidecar except to the upstream.
    secret_query_names: set[str] = field(default_factory=set)
    secret_header_names: set[str] = field(default_factory=set)
    # The path as shown (spans, audit, errors): with the values of context-bound path variables
    # replaced; None when it is the path itself.
    shown_path: str | None = None

    def url(self) -> str:
        """The URL actually sent. Never log it or return it: use ``redacted_url``."""
        if not self.query:
            return self.origin + self.path
        return f"{self.origin}{self.path}?{urlencode(self.query)}"

    def redacted_url(self) -> str:
        """The URL with the values of secret-looking (and context-bound) parameters replaced."""
        path = self.path if self.shown_path is None else self.shown_path
        if not self.query:
            return self.origin + path
        query = [
            (k, REDACTED if k in self.secret_query_names or k.lower() in SECRET_QUERY_NAMES else v)
            for k, v in self.query
        ]
        return f"{self.origin}{path}?{urlencode(query)}"


REDACTED = "REDACTED"
# Query parameters redacted wherever a URL is shown, even when the caller set
# them: they conventionally carry credentials.
SECRET_QUERY_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "api-key",
        "auth",
        "client_secret",
        "code",
        "id_token",
        "key",
        "password",
        "refresh_token",
        "secret",
        "sig",
        "signature",
        "token",
        "x-api-key",
    }
)


@dataclass(slots=True)
class Call:
    request: InvokeRequest
    metadata: tuple[tuple[str, Any], ...] = ()
    # Seconds the gRPC caller still waits, measured when the call arrived.
    time_remaining: float | None = None
    operation: Operation | None = None
    # Bound arguments (set by the bind stage).
    path_values: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    content_type: str | None = None
    outbound: OutboundRequest | None = None
    timeout: float = 0.0  # effective total timeout in seconds (set by bind)
    deadline: float = 0.0  # time.monotonic() by which the whole call must finish
    # The deadline is one the caller chose (its timeout= or gRPC deadline), shorter than the
    # operation's own timeout (set by bind): running out of it says nothing about the upstream.
    callers_deadline: bool = False
    # Who is calling (gRPC metadata x-conversation-id / x-agent-id, checked by the context stage).
    conversation_id: str = ""
    agent_id: str = ""
    # Trusted context (metadata x-context-<key>, read by the bound_context stage): the values, and
    # the arguments bound from them (argument -> value, for the bind stage). Never logged: the audit
    # record names the keys an operation used (context_keys), never a value.
    context: dict[str, str] = field(default_factory=dict)
    bound_arguments: dict[str, Any] = field(default_factory=dict)
    context_keys: tuple[str, ...] = ()
    attempts: int = 0  # HTTP requests sent to the upstream for this call (the send stage counts)
    # Bounded names for metric attributes and per-API aggregates (set by the record stage): the
    # configured API and operation names, or "(unknown)" for any name that is not configured.
    api_label: str = ""
    operation_label: str = ""
    # The response cache (pipeline/cache.py): "hit", "miss", or "" when the operation is not cached.
    cache: str = ""
    # Go to the upstream even when a cached answer exists (background jobs, connection tests);
    # a cacheable answer is still stored, so a later call can use it.
    force_refresh: bool = False
    # The upstream's own caching headers (Cache-Control, Expires, Date, Age, Vary), noted before
    # the response is shaped, for a cached operation only.
    caching_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class UpstreamResponse:
    status_code: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    elapsed: float
    url: str  # redacted
    http_version: str = ""
    from_cache: bool = False  # answered by the response cache, not the upstream
    llm_text: str | None = None  # the body as the LLM reads it, for an operation with result: (llm_result stage)

    def to_proto(self) -> InvokeResponse:
        """The Invoke answer (for gRPC, MCP and a finished background job alike)."""
        return InvokeResponse(
            status_code=self.status_code,
            reason=self.reason,
            headers=[KeyValue(key=k, value=v) for k, v in self.headers],
            body=self.body,
            elapsed_seconds=self.elapsed,
            url=self.url,
            http_version=self.http_version,
            from_cache=self.from_cache,
            llm_text=self.llm_text,
        )
