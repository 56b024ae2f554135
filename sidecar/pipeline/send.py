"""Terminal stage: the HTTP call, with httpx, one pooled AsyncClient per API.

Enforces the total timeout and the response size limit, opens the HTTP client
span (HTTP semantic conventions) and injects ``traceparent`` upstream.
httpx exceptions are translated here, at the boundary, into SidecarError.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from client._proto.sidecar_pb2 import ErrorCode

from ..config import ApiConfig
from ..errors import SidecarError
from ..registry import Operation, Registry
from ._call import Call, UpstreamResponse

# httpx logs every request's full URL at INFO, secret query values included;
# our access log writes the redacted URL instead.
logging.getLogger("httpx").setLevel(logging.WARNING)

TransportFactory = Callable[[ApiConfig], httpx.AsyncBaseTransport]
USER_AGENT = "custom-api-sidecar/0.1"
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


def default_transport(api: ApiConfig) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=api.connection.verify_ssl, limits=POOL_LIMITS, retries=0)


class Send:
    def __init__(
        self,
        registry: Registry,
        tracer: trace.Tracer,
        transport_factory: TransportFactory = default_transport,
    ) -> None:
        self._tracer = tracer
        self._clients = {
            name: httpx.AsyncClient(
                transport=transport_factory(api.config),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,  # a redirect could carry credentials elsewhere
                trust_env=False,  # no ambient proxies or .netrc credentials
            )
            for name, api in registry.apis.items()
        }

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients.values()))

    async def __call__(self, call: Call) -> UpstreamResponse:
        op, out = call.operation, call.outbound
        assert op is not None and out is not None
        redacted = out.redacted_url()
        with self._tracer.start_as_current_span(
            f"{out.method} {op.url_template}",
            kind=SpanKind.CLIENT,
            record_exception=False,
            set_status_on_exception=False,
            attributes={
                "http.request.method": out.method,
                "url.full": redacted,
                "url.template": op.url_template,
                "server.address": op.api.host,
                "server.port": op.api.port,
            },
        ) as span:
            headers = list(out.headers)
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers.extend(carrier.items())
            try:
                response = await self._send(call, op, headers, redacted)
            except SidecarError as err:
                span.set_attribute("error.type", err.code_name)
                span.set_status(Status(StatusCode.ERROR, err.code_name))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.http_version:
                span.set_attribute("network.protocol.version", response.http_version.removeprefix("HTTP/"))
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def _send(self, call: Call, op: Operation, headers: list[tuple[str, str]], redacted: str) -> UpstreamResponse:
        out = call.outbound
        assert out is not None
        client = self._clients[op.api.name]
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(op, call.timeout, redacted)
        request = client.build_request(
            out.method, out.url(), headers=headers, content=out.content, timeout=httpx.Timeout(remaining)
        )
        limit = op.api.config.security.max_response_bytes
        start = time.perf_counter()
        try:
            async with asyncio.timeout(remaining):
                response = await client.send(request, stream=True)
                try:
                    body = await _read_limited(response, limit, op, redacted)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise _timeout(op, call.timeout, redacted) from None
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


async def _read_limited(response: httpx.Response, limit: int, op: Operation, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
        raise _too_large(op, url, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded, so a zip bomb is caught too
        size += len(chunk)
        if size > limit:
            raise _too_large(op, url, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(op: Operation, url: str, limit: int) -> SidecarError:
    return SidecarError(
        ErrorCode.RESPONSE_TOO_LARGE,
        f"{op.api.name}.{op.name}: response from {url} exceeds the {limit}-byte limit",
        api=op.api.name,
        operation=op.name,
    )


def _timeout(op: Operation, timeout: float, url: str) -> SidecarError:
    return SidecarError(
        ErrorCode.TIMEOUT,
        f"{op.api.name}.{op.name}: {url} did not answer within {timeout:g} s",
        api=op.api.name,
        operation=op.name,
    )


def _translate(exc: httpx.HTTPError, op: Operation, url: str) -> SidecarError:
    cause = _root_causes(exc)
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
