"""httpx transports for the upstream call. httpx stays the HTTP API; the wire is pluggable.

``AiohttpTransport`` (the default) runs httpx requests on aiohttp's C-accelerated
HTTP/1.1 client: measured with ``python -m bench`` it is several times faster
than httpx's own httpcore transport and holds 1,000 requests/s where httpcore's
pool stalls. ``CUSTOM_API_SIDECAR_HTTP_TRANSPORT=httpcore`` selects httpcore.

Both check every new connection against the API's egress policy (``custom_api_sidecar.egress``):
aiohttp through its resolver, httpcore through its network backend. A forward proxy (aiohttp
only) is asked for the checked address of the target, never for a name it would resolve itself.

aiohttp errors are mapped to httpx's exception tree here, so the send stage
translates one family of errors; the original error stays the ``__cause__``
(the send stage looks there for ``EgressRefused``, ``ssl.SSLError`` and ``socket.gaierror``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import aiohttp
import httpcore
import httpx
from multidict import CIMultiDict
from yarl import URL

from .config import ApiConfig
from .egress import CheckedBackend, CheckedResolver, Egress, EgressRefused

TransportFactory = Callable[[ApiConfig, Egress], httpx.AsyncBaseTransport]
ENV_TRANSPORT = "CUSTOM_API_SIDECAR_HTTP_TRANSPORT"
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
_CHUNK = 64 * 1024


def default_transport(api: ApiConfig, egress: Egress) -> httpx.AsyncBaseTransport:
    if os.environ.get(ENV_TRANSPORT, "aiohttp") == "httpcore":
        return httpcore_transport(egress)
    return AiohttpTransport(egress, limits=POOL_LIMITS)


def httpcore_transport(egress: Egress, limits: httpx.Limits = POOL_LIMITS) -> httpx.AsyncBaseTransport:
    """httpx's own transport on a checked network backend. No forward proxy here (use aiohttp)."""
    if egress.proxy not in (None, "direct") or egress.proxies.https or egress.proxies.http:
        raise ValueError(
            "a forward proxy needs the default aiohttp transport (unset CUSTOM_API_SIDECAR_HTTP_TRANSPORT)"
        )
    transport = httpx.AsyncHTTPTransport(verify=egress.tls.context(), limits=limits, retries=0, trust_env=False)
    # httpx takes no network backend, so its pool is rebuilt around ours (httpx 0.28 is the last release).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=egress.tls.context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=CheckedBackend(CheckedResolver(egress.policy, egress.lookup)),
    )
    return transport


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, egress: Egress, limits: httpx.Limits = POOL_LIMITS) -> None:
        self._egress = egress
        self._limits = limits
        proxies = {egress.proxies.https, egress.proxies.http, egress.proxy} - {None, "direct"}
        # The operator's own proxies are trusted destinations; everything else is checked.
        self._resolver = CheckedResolver(
            egress.policy, egress.lookup, exempt={urlsplit(p).hostname or "" for p in proxies if p}
        )
        self._session: aiohttp.ClientSession | None = None  # made in the running loop, on first use

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            ssl=self._egress.tls.context(),
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
        timeout = request.extensions.get("timeout")
        url = URL(str(request.url), encoded=True)  # as built: never re-quoted or normalized
        headers = CIMultiDict(request.headers.multi_items())
        options: dict[str, object] = {}
        if timeout:  # the send stage bounds the whole call itself and sends none (no timer per read)
            options["timeout"] = aiohttp.ClientTimeout(
                total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
            )
        try:
            options["ssl"] = self._egress.tls.context()  # rebuilt after a client certificate rotates
            proxy = self._egress.proxy_for(str(request.url))
            if proxy is not None:
                url, options = await self._through_proxy(url, headers, proxy, options)
            response = await session.request(
                request.method,
                url,
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                **options,  # type: ignore[arg-type]
            )
        except aiohttp.ClientError as exc:
            raise _to_httpx(exc, request) from exc
        except (EgressRefused, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
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

    async def _through_proxy(
        self, url: URL, headers: CIMultiDict[str], proxy: str, options: dict[str, object]
    ) -> tuple[URL, dict[str, object]]:
        """Check the target here, then ask the proxy for the checked address: the proxy never
        resolves the name itself, so neither a private target nor DNS rebinding gets through it.
        Host and the TLS server name stay the URL's host, so the certificate is verified by name."""
        host = url.host or ""
        (_, address), *_ = await self._resolver.checked(host, url.port or 0)
        headers.setdefault("Host", url.raw_authority)
        pinned = url.with_host(str(address))
        if url.scheme == "https":
            options["server_hostname"] = host
        return pinned, {**options, "proxy": proxy}

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
