"""Terminal stage: the HTTP call, with httpx, one pooled transport per API.

Enforces the total timeout and the response size limit, opens the HTTP client
span (HTTP semantic conventions) and sends on the trace context its API chose
(``custom_api_sidecar.propagation``: ``traceparent`` by default, never the global propagator).
httpx exceptions are translated here, at the boundary, into SidecarError.
The body is read raw and decoded by ``custom_api_sidecar.body_decoding``, which counts
decoded bytes inside the decoder, so a compression bomb costs no more memory than the limit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..body_decoding import ACCEPT_ENCODING, BodyDecodingError, BodyTooLarge
from ..call_spans import CallTracer
from ..egress import EgressRefused
from ..errors import SidecarError
from ..httpx_body import read_decoded
from ..propagation import UpstreamPropagation, upstream_propagation
from ..registry import Operation
from ._call import Call, UpstreamResponse

# httpx logs every request's full URL at INFO, secret query values included;
# our access log writes the redacted URL instead.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "custom-api-sidecar/0.1"
# Sent unless the request already has them; Accept-Encoding names exactly what body_decoding decodes.
DEFAULT_HEADERS = (("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Accept-Encoding", ACCEPT_ENCODING))


_Head = tuple[str, dict[str, str | int], UpstreamPropagation]


class Send:
    def __init__(self, tracer: trace.Tracer, transports: Mapping[str, httpx.AsyncBaseTransport]) -> None:
        """``transports``: one per API (from a ``TransportFactory``); their generation owns and closes them."""
        self._spans = CallTracer(tracer)
        self._heads: dict[int, _Head] = {}  # per operation, built once
        self._origins: dict[str, httpx.URL] = {}  # per origin, parsed once
        # Transports, not an httpx.AsyncClient: a client keeps one cookie jar for
        # every conversation, and its auth and redirect machinery is per-call work
        # this stage never wants (redirects are not followed: they could carry
        # credentials elsewhere).
        self._transports = transports

    async def __call__(self, call: Call) -> UpstreamResponse:
        op, out = call.operation, call.outbound
        assert op is not None and out is not None
        redacted = out.redacted_url()
        name, attributes, propagation = self._heads.get(id(op)) or self._head(op)
        span = self._spans.start(name, SpanKind.CLIENT, {**attributes, "url.full": redacted}, context.get_current())
        token = context.attach(trace.set_span_in_context(span))
        try:
            headers = list(out.headers)
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in DEFAULT_HEADERS if h[0].lower() not in present)
            propagation.inject(headers)
            try:
                response = await self._send(call, op, headers, redacted)
            except SidecarError as err:
                span.set_attribute("error.type", err.code_name)
                span.set_status(Status(StatusCode.ERROR, err.code_name))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.http_version:
                span.set_attribute("network.protocol.version", _protocol_version(response.http_version))
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            return response
        finally:
            context.detach(token)
            span.end()

    def _head(self, op: Operation) -> _Head:
        """The client span's name, the attributes every call of ``op`` shares, and its API's propagation."""
        head = self._heads[id(op)] = (
            f"{op.method} {op.url_template}",
            {
                "http.request.method": op.method,
                "url.template": op.url_template,
                "server.address": op.api.host,
                "server.port": op.api.port,
            },
            upstream_propagation(op.api.config.propagate),
        )
        return head

    def _url(self, origin: str, path: str, query: str) -> httpx.URL:
        """``httpx.URL(origin + path + "?" + query)`` without parsing it again: path and query come
        percent-encoded from the bind stage, so when they hold nothing but what httpx would keep as
        it is, the parsed origin takes them as they are (the checked case), else httpx parses."""
        base = self._origins.get(origin)
        if base is None:
            base = self._origins[origin] = httpx.URL(origin)
        if _ENCODED.match(path) and _ENCODED.match(query):
            url = httpx.URL.__new__(httpx.URL)
            # httpx 0.28 (its last release) keeps a parsed URL as this named tuple.
            url._uri_reference = base._uri_reference._replace(path=path, query=query or None)
            return url
        return httpx.URL(origin + path + (f"?{query}" if query else ""))

    async def _send(self, call: Call, op: Operation, headers: list[tuple[str, str]], redacted: str) -> UpstreamResponse:
        out = call.outbound
        assert out is not None
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(op, call, redacted)
        call.attempts += 1
        request = httpx.Request(
            out.method,
            self._url(out.origin, out.path, urlencode(out.query) if out.query else ""),
            headers=headers,
            content=out.content,
        )  # no timeout extension: asyncio.timeout below bounds connect, send and read together
        limit = op.api.config.security.max_response_bytes
        start = time.perf_counter()
        try:
            async with asyncio.timeout(remaining):
                response = await self._transports[op.api.name].handle_async_request(request)
                try:
                    body = await _read_limited(response, limit, op, redacted)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise _timeout(op, call, redacted) from None
        except httpx.HTTPError as exc:
            raise _translate(exc, op, redacted) from None
        return UpstreamResponse(
            status_code=response.status_code,
            reason=response.reason_phrase,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            body=body,
            elapsed=time.perf_counter() - start,
            url=redacted,
            http_version=response.http_version,
        )


# Characters httpx leaves as they are in a path or query (RFC 3986 unreserved, sub-delims, ":@/?",
# and %XX escapes): a string of only these parses to itself.
_ENCODED = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*\Z")
_VERSIONS = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0", "HTTP/2": "2"}


def _protocol_version(http_version: str) -> str:
    return _VERSIONS.get(http_version) or http_version.removeprefix("HTTP/")


async def _read_limited(response: httpx.Response, limit: int, op: Operation, url: str) -> bytes:
    try:
        return await read_decoded(response, limit)
    except BodyTooLarge:
        raise _too_large(op, url, limit) from None
    except BodyDecodingError as exc:
        raise SidecarError(
            ErrorCode.UPSTREAM_PROTOCOL_ERROR,
            f"{op.api.name}.{op.name}: {url}: the response body cannot be decoded: {exc}",
            api=op.api.name,
            operation=op.name,
        ) from None


def _too_large(op: Operation, url: str, limit: int) -> SidecarError:
    return SidecarError(
        ErrorCode.RESPONSE_TOO_LARGE,
        f"{op.api.name}.{op.name}: response from {url} exceeds the {limit}-byte limit",
        api=op.api.name,
        operation=op.name,
    )


def _timeout(op: Operation, call: Call, url: str) -> SidecarError:
    whose = " (the shorter timeout this call chose)" if call.callers_deadline else ""
    return SidecarError(
        ErrorCode.TIMEOUT,
        f"{op.api.name}.{op.name}: {url} did not answer within {call.timeout:g} s{whose}",
        api=op.api.name,
        operation=op.name,
    )


def _translate(exc: httpx.HTTPError, op: Operation, url: str) -> SidecarError:
    cause = _root_causes(exc)
    refused = next((c for c in cause if isinstance(c, EgressRefused)), None)
    if refused is not None:  # nothing was sent
        return SidecarError(
            ErrorCode.EGRESS_DENIED, f"{op.api.name}.{op.name}: {refused}", api=op.api.name, operation=op.name
        )
    if any(isinstance(c, ssl.SSLError) for c in cause):
        code, what = ErrorCode.SSL_ERROR, "TLS handshake or certificate verification failed"
    elif any(isinstance(c, socket.gaierror) for c in cause):
        code, what = ErrorCode.ENDPOINT_NOT_FOUND, "host name does not resolve"
    elif isinstance(exc, httpx.ConnectError):
        code, what = ErrorCode.CONNECTION_REFUSED, "connection failed"
    else:
        code, what = ErrorCode.UPSTREAM_PROTOCOL_ERROR, f"upstream broke the HTTP exchange ({type(exc).__name__})"
    return SidecarError(code, f"{op.api.name}.{op.name}: {url}: {what}", api=op.api.name, operation=op.name)


def _root_causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
