"""httpx transports for the upstream call. httpx stays the HTTP API; the wire is pluggable.

``AiohttpTransport`` (the default) runs httpx requests on aiohttp's C-accelerated
HTTP/1.1 client: measured with ``python -m bench`` it is several times faster
than httpx's own httpcore transport and holds 1,000 requests/s where httpcore's
pool stalls. ``CUSTOM_API_SIDECAR_HTTP_TRANSPORT=httpcore`` selects httpcore.

aiohttp errors are mapped to httpx's exception tree here, so the send stage
translates one family of errors; the original error stays the ``__cause__``
(the send stage looks there for ``ssl.SSLError`` and ``socket.gaierror``).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

from .config import ApiConfig

TransportFactory = Callable[[ApiConfig], httpx.AsyncBaseTransport]
ENV_TRANSPORT = "CUSTOM_API_SIDECAR_HTTP_TRANSPORT"
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
_CHUNK = 64 * 1024


def default_transport(api: ApiConfig) -> httpx.AsyncBaseTransport:
    verify = api.connection.verify_ssl
    if os.environ.get(ENV_TRANSPORT, "aiohttp") == "httpcore":
        return httpx.AsyncHTTPTransport(verify=_ssl_context(verify), limits=POOL_LIMITS, retries=0)
    return AiohttpTransport(ssl_context=_ssl_context(verify), limits=POOL_LIMITS)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One context per verify setting, shared by every API: loading the CA bundle
    per API cost about 1 MB of memory each."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits = POOL_LIMITS) -> None:
        self._ssl = ssl_context
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None  # made in the running loop, on first use

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl,
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 30.0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # a cookie from one conversation must never reach another
            trust_env=False,  # no ambient proxies or .netrc credentials
            auto_decompress=False,  # httpx decodes, so the size limit counts decoded bytes
            skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(total=None),  # the send stage owns the deadline
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        body = request.content or None
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),  # as built: never re-quoted or normalized
                headers=CIMultiDict(request.headers.multi_items()),
                data=body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except aiohttp.ClientError as exc:
            raise _to_httpx(exc, request) from exc
        version = response.version
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except aiohttp.ClientError as exc:
            raise _to_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


def _to_httpx(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (aiohttp.ConnectionTimeoutError,)):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, aiohttp.SocketTimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(message, request=request)
    return httpx.TransportError(message, request=request)
