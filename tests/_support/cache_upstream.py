"""An HTTP upstream whose caching headers the test chooses, counting what reaches it.

Every answer is 200 JSON ``{"n": <request number>, "path": ...}`` unless the query says otherwise:
``cc=`` sets ``Cache-Control``, ``vary=`` ``Vary``, ``expires=`` ``Expires``, ``age=`` ``Age``,
``status=`` the status, ``size=`` pads the body to that many bytes, ``cookie=1`` adds a
``Set-Cookie``. ``n`` tells a cached answer (an old number) from a fresh one."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        up = self.server.upstream
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        with up.lock:
            up.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            number = len(up.requests)
        payload = json.dumps({"n": number, "path": self.path}).encode()
        if "size" in query:
            payload = payload + b" " * max(0, int(query["size"]) - len(payload))
        status = int(query.get("status", 200))
        if status == 204:
            payload = b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for header, key in (("Cache-Control", "cc"), ("Vary", "vary"), ("Expires", "expires"), ("Age", "age")):
            if key in query:
                self.send_header(header, query[key])
        if query.get("cookie") == "1":
            self.send_header("Set-Cookie", "session=abc; Path=/")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: CacheUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream


class CacheUpstream:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
