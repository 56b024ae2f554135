"""Shortcuts the hot path takes give exactly what the long way gives."""

from __future__ import annotations

import httpx
import pytest

from custom_api_sidecar.pipeline.send import Send

ORIGINS = [
    "http://127.0.0.1:8080",
    "https://API.Example.com",
    "https://h:443",
    "http://h:80",
    "https://xn--bcher-kva.x",
]
PRINTABLE = [chr(c) for c in range(0x21, 0x7F)]
PATHS = ["", "/", "/items/42", "/a/%2F/b", "/a/%zz", "/a b", "/ü", *(f"/x{c}y" for c in PRINTABLE)]
QUERIES = ["", "a=1&b=2", "q=%20x+y", "k=a'b", *(f"k={c}" for c in PRINTABLE)]


@pytest.mark.parametrize("origin", ORIGINS)
def test_send_builds_the_url_httpx_would_parse(origin):
    send = Send.__new__(Send)
    send._origins = {}
    for path in PATHS:
        for query in QUERIES:
            fast = send._url(origin, path, query)
            slow = httpx.URL(origin + path + (f"?{query}" if query else ""))
            assert (str(fast), fast.raw_path, fast.host, fast.port) == (str(slow), slow.raw_path, slow.host, slow.port)
            assert fast == slow
