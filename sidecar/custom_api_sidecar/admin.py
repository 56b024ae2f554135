"""The admin listener: ``/metrics`` (Prometheus text) and the dashboard (seed 004's Custom APIs
list and API logs) with the JSON it reads. Off by default; loopback unless ``--allow-remote``
(reach it with ``kubectl port-forward``). It shows base URL hosts, auth types and call metadata,
never a secret, a header value or a body. The page has no external assets: it works offline.
"""

from __future__ import annotations

import importlib.resources
import logging
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .app import Sidecar

log = logging.getLogger("custom_api_sidecar.admin")
WINDOWS = {"5m": 300.0, "1h": 3600.0, "24h": 86_400.0, "all": None}
_PAGE = importlib.resources.files(__package__).joinpath("dashboard.html")
# Inline style and script only; no other origin (the page has no external assets).
CSP = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


class AdminServer:
    def __init__(self, sidecar: Sidecar, host: str, port: int) -> None:
        self._sidecar = sidecar
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.bound_port = 0

    def app(self) -> web.Application:
        app = web.Application()
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

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(
            text=_PAGE.read_text(encoding="utf-8"),
            content_type="text/html",
            headers={
                "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
            },
        )

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
