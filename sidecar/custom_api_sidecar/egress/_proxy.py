"""Forward proxies: the standard variables, read only when set, and a per-API override.

``HTTPS_PROXY`` / ``HTTP_PROXY`` (either case) choose a proxy by the upstream's scheme and
``NO_PROXY`` exempts hosts; none of them is read unless the sidecar starts with it set, and
nothing else from the environment (.netrc, ``ALL_PROXY``) is used. A per-API
``connection.proxy`` wins: a proxy URL, or ``direct`` to bypass the variables.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DIRECT = "direct"


@dataclass(frozen=True)
class ProxySettings:
    https: str | None = None
    http: str | None = None
    no_proxy: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProxySettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name) or env.get(name.lower()) or None

        return cls(https=get("HTTPS_PROXY"), http=get("HTTP_PROXY"), no_proxy=get("NO_PROXY") or "")

    def urls(self) -> frozenset[str]:
        """The operator's proxies (an API may always name them in ``connection.proxy``)."""
        return frozenset(p for p in (self.https, self.http) if p)

    def proxy_for(self, url: str, override: str | None = None) -> str | None:
        """The proxy URL for ``url``, or None to connect directly."""
        if override is not None:
            return None if override == DIRECT else override
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None:
            return None
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # public, untyped
        if self.no_proxy and bypass(parts.hostname or "", {"no": self.no_proxy}):
            return None
        return proxy
