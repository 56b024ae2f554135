"""Who the admin listener answers: the ``Host`` it was asked by, and the bearer token when one is set.

**Host.** A web page the operator visits can make the browser talk to ``127.0.0.1:9464`` under the
page's own name (DNS rebinding: the name is re-pointed at 127.0.0.1), and then read the answers
as its own. The browser always sends that name in ``Host``, so the listener answers only a Host
that cannot be rebound: ``localhost`` or a loopback address (``127.0.0.1``, ``[::1]``), with any
port (``kubectl port-forward`` picks its own). With ``--allow-remote`` and a non-loopback listen
address, that address (or name) is accepted too: the operator chose to expose it. A wildcard
listen address (``0.0.0.0``, ``::``) accepts any IP address literal (what a scraper connecting to
the pod IP sends), never another name. Anything else is 403.

**Token.** With ``--admin-token REF`` (a secret reference, read through the sidecar's secret store
and refreshed like every other), each request needs ``Authorization: Bearer <token>``, compared in
constant time; else 401 with ``WWW-Authenticate: Bearer``. The dashboard page itself (static
HTML, no data) is the one exception: it asks for the token and keeps it in the page's memory for
its API calls, so the token never appears in a URL. A token that cannot be read (Vault down past
the maximum staleness) fails closed: 503.
"""

from __future__ import annotations

import hmac
import ipaddress
import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import SidecarError
from .secrets import SecretRef, SecretStore

LOOPBACK_NAME = "localhost"
WILDCARDS = ("0.0.0.0", "::", "")
MAX_HOST_CHARS = 261  # a bracketed IPv6 address with a port, or a 253-character name with one
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9.-]+))(?::[0-9]{1,5})?", re.ASCII)
# Routes anyone who passed the Host check may fetch without the token: the page shell (no data).
PUBLIC_PATHS = frozenset({"/"})
REALM = 'realm="custom-api-sidecar admin"'


class HostCheck:
    """The ``Host`` values the admin listener answers, given the host it listens on."""

    def __init__(self, listen_host: str) -> None:
        bare = listen_host.strip("[]").lower()
        self.any_address = bare in WILDCARDS
        self.listen_host = "" if self.any_address or _is_loopback(bare) else bare

    def allows(self, host_header: str) -> bool:
        host = host_part(host_header)
        if host is None:
            return False
        if host == LOOPBACK_NAME or _is_loopback(host):
            return True
        if self.listen_host and host == self.listen_host:
            return True
        return self.any_address and _address(host) is not None

    def middleware(self) -> Middleware:
        @web.middleware
        async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
            hosts = request.headers.getall("Host", [])
            if len(hosts) != 1 or not self.allows(hosts[0]):
                return forbidden()
            return await handler(request)

        return check_host


def host_part(header: str) -> str | None:
    """The host of a ``Host`` header (lower case, IPv6 without brackets), or None if malformed."""
    if len(header) > MAX_HOST_CHARS:
        return None
    match = _HOST.fullmatch(header.lower())
    if match is None:
        return None
    return match["v6"] or match["name"]


def forbidden() -> web.Response:
    return web.Response(
        status=403,
        text="403 Forbidden: this admin listener answers only requests addressed to localhost, 127.0.0.1 or "
        "[::1] (or the address it listens on), so that no other site can reach it through DNS rebinding. "
        "Open it at http://localhost:<port>/.\n",
    )


class BearerToken:
    """The admin token: a reference resolved by the sidecar's secret store (registered before it starts)."""

    def __init__(self, ref: SecretRef, store: SecretStore) -> None:
        self.ref = ref
        self._store = store
        store.register(ref)

    def middleware(self) -> Middleware:
        @web.middleware
        async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.method in ("GET", "HEAD") and request.path in PUBLIC_PATHS:
                return await handler(request)
            try:
                expected = self._store.get(self.ref).encode()
            except SidecarError:  # the store has logged why; never answer without the check
                return web.Response(status=503, text="503: the admin token could not be read; see the sidecar's log\n")
            presented = _bearer(request.headers.get("Authorization", ""))
            if presented is None:
                return _unauthorized(f"Bearer {REALM}", "this admin listener needs Authorization: Bearer <token>")
            if not hmac.compare_digest(presented, expected):
                return _unauthorized(f'Bearer {REALM}, error="invalid_token"', "that is not the admin token")
            return await handler(request)

        return check_token


def _bearer(header: str) -> bytes | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode("utf-8", "surrogateescape")


def _unauthorized(challenge: str, why: str) -> web.Response:
    text = f"401 Unauthorized: {why} (--admin-token)\n"
    return web.Response(status=401, text=text, headers={"WWW-Authenticate": challenge})


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    address = _address(host)
    return address is not None and address.is_loopback
