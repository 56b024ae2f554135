"""The admin listener: ``/metrics`` (Prometheus text) and the dashboard (seed 004's Custom APIs
list and API logs) with the JSON it reads. Off by default; loopback unless ``--allow-remote``
(reach it with ``kubectl port-forward``). It shows base URL hosts, auth types and call metadata,
never a secret, a header value or a body. The page has no external assets: it works offline.

Who it answers (the ``Host`` check against DNS rebinding, the optional bearer token) is
``admin_access``; every answer carries the headers below, and the page a Content-Security-Policy
that allows exactly its own inline style and script (by hash) and requests to its own origin.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import logging
import re
from typing import TYPE_CHECKING, NamedTuple

from aiohttp import web

from .admin_access import BearerToken, HostCheck
from .secrets import SecretRef

if TYPE_CHECKING:
    from .app import Sidecar

log = logging.getLogger("custom_api_sidecar.admin")
WINDOWS = {"5m": 300.0, "1h": 3600.0, "24h": 86_400.0, "all": None}
_PAGE = importlib.resources.files(__package__).joinpath("dashboard.html")


class AdminSettings(NamedTuple):
    """Where the admin listener listens, and the reference of its bearer token (None: no token)."""

    host: str
    port: int
    token: SecretRef | None = None


def _hashes(page: str, tag: str) -> str:
    """CSP source expressions for each inline ``<tag>`` block of the page, by its SHA-256."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
    assert blocks, f"dashboard.html has no <{tag}> block"
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


PAGE = _PAGE.read_text(encoding="utf-8")
# The page: its own inline style and script (by hash: a changed page changes its policy with it),
# fetch() to its own origin, nothing else; no plugin, frame, form target or base URL, and Trusted
# Types, so the script cannot turn text into HTML.
CSP = (
    f"default-src 'none'; script-src {_hashes(PAGE, 'script')}; style-src {_hashes(PAGE, 'style')}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
# Every other answer (JSON, metrics, errors) is data: nothing in it may run or be framed.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",  # no other site may embed an answer (<script src=...>)
    "Cache-Control": "no-store",
}


class AdminServer:
    def __init__(self, sidecar: Sidecar, host: str, port: int, token: SecretRef | None = None) -> None:
        """``token``: the bearer token's reference, or None (then the Host check alone guards it)."""
        self._sidecar = sidecar
        self._host, self._port = host, port
        self._hosts = HostCheck(host)
        # registered now, so the store reads it with the config's references before the first request
        self._token = BearerToken(token.for_environment(sidecar.environment), sidecar.secrets) if token else None
        self._runner: web.AppRunner | None = None
        self.bound_port = 0

    def app(self) -> web.Application:
        middlewares = [self._hosts.middleware()]  # first: a rebound name learns nothing, not even 401
        if self._token is not None:
            middlewares.append(self._token.middleware())
        app = web.Application(middlewares=middlewares)
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self._page)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api/apis", self._apis)
        app.router.add_get("/api/calls", self._calls)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # the bound port, when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        if (self._hosts.listen_host or self._hosts.any_address) and self._token is None:
            log.warning(
                "the admin listener on %s:%d is reachable beyond this host without a token; give --admin-token",
                self._host,
                self.bound_port,
            )

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": CSP})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self._sidecar.metrics.prometheus_text(), content_type="text/plain", charset="utf-8")

    async def _apis(self, request: web.Request) -> web.Response:
        reload = self._sidecar.last_reload
        config = {
            "source": self._sidecar.config.source,
            "last_reload": None
            if reload is None
            else {"ok": reload.ok, "at": reload.at, "source": reload.source, "problems": list(reload.problems)},
        }
        return web.json_response(
            {"environment": self._sidecar.environment, "config": config, "apis": self._sidecar.activity.apis()}
        )

    async def _calls(self, request: web.Request) -> web.Response:
        query = request.query
        window = query.get("window", "all")
        if window not in WINDOWS:
            return web.json_response({"error": f"window must be one of {', '.join(WINDOWS)}"}, status=400)
        calls = self._sidecar.activity.calls(
            endpoint=query.get("endpoint", ""),
            since_seconds=WINDOWS[window],
            status=query.get("status", ""),
            conversation=query.get("conversation", ""),
        )
        return web.json_response({"calls": calls})


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, errors included."""
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Content-Security-Policy", DATA_CSP)
