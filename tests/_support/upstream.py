"""A real HTTP/1.1 upstream on 127.0.0.1 for the tests (stdlib, one thread per connection).

Routes:
  /echo/...            any method: JSON of what arrived (raw path, query, headers, body;
                       a body over 1 MB only as its length and SHA-256); ?delay=S answers after S s
  /status/<code>       that status, with a small JSON body
  /redirect?to=URL     302 to URL
  /flaky/<key>?fail=N&status=S&retry_after=V
                       the first N requests for <key> answer S (with Retry-After: V), then 200
  /bytes/<n>           n deterministic binary bytes (application/octet-stream)
  /empty               200 with an empty body
  /delay/<seconds>     waits, then 200
  /multi-headers       repeated Set-Cookie and X-Multi headers
  /gzip                a gzip-encoded JSON body
  /reflect/...         every request header sent back twice, as itself and as X-Reflect-<name>
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def pattern_bytes(n: int) -> bytes:
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait on delayed ACKs
    server: _Server

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]] = (), reason: str | None = None) -> None:
        self.send_response(status, reason)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: object, headers: list[tuple[str, str]] = ()) -> None:
        self._reply(status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers])

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {
            "method": self.command,
            "raw_path": self.path,
            "path": urlsplit(self.path).path,
            "query": urlsplit(self.path).query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        if len(body) <= 1_000_000:  # large bodies are summarized, not echoed
            record["body_b64"] = base64.b64encode(body).decode()
        self.server.requests.append(record)
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        if parts[0] == "echo" or "echo" in parts:
            delay = dict(pair.split("=", 1) for pair in record["query"].split("&") if "=" in pair).get("delay")
            if delay:  # ?delay=SECONDS: a slow echo
                time.sleep(float(delay))
            self._json(200, {**record, "body": body.decode("utf-8", "replace") if "body_b64" in record else ""})
        elif parts[0] == "flaky":  # /flaky/<key>?fail=N&status=503[&retry_after=V]: N failures, then 200
            query = dict(pair.split("=", 1) for pair in record["query"].split("&") if "=" in pair)
            with self.server.lock:
                seen = self.server.flaky[parts[1]] = self.server.flaky.get(parts[1], 0) + 1
            if seen <= int(query.get("fail", "1")):
                extra = [("Retry-After", unquote(query["retry_after"]))] if "retry_after" in query else []
                self._json(int(query.get("status", "503")), {"attempt": seen}, headers=extra)
            else:
                self._json(200, {"attempt": seen})
        elif parts[0] == "redirect":  # /redirect?to=URL: a 302 to anywhere
            target = dict(pair.split("=", 1) for pair in record["query"].split("&") if "=" in pair).get("to", "/")
            self._json(302, {"redirect": True}, headers=[("Location", unquote(target))])
        elif parts[0] == "status":
            code = int(parts[1])
            self._json(code, {"status": code})
        elif parts[0] == "bytes":
            self._reply(200, pattern_bytes(int(parts[1])), [("Content-Type", "application/octet-stream")])
        elif parts[0] == "empty":
            self._reply(200, b"")
        elif parts[0] == "delay":
            time.sleep(float(parts[1]))
            self._json(200, {"delayed": float(parts[1])})
        elif parts[0] == "multi-headers":
            self._reply(
                200,
                b"ok",
                [
                    ("Set-Cookie", "a=1"),
                    ("X-Multi", "first"),
                    ("Set-Cookie", "b=2"),
                    ("X-Multi", "second"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
            )
        elif parts[0] == "reflect":  # an upstream that leaks: request headers come back as response headers
            framing = {"content-length", "transfer-encoding", "connection"}
            sent = [(k, v) for k, v in self.headers.items() if k.lower() not in framing]
            self._reply(200, b"{}", [(f"X-Reflect-{k}", v) for k, v in sent] + sent)
        elif parts[0] == "gzip":
            self._reply(
                200,
                gzip.compress(b'{"zipped": true}'),
                [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            )
        else:
            self._json(404, {"error": "not found", "path": path})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.flaky: dict[str, int] = {}  # /flaky/<key>: requests seen per key
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # the sidecar hanging up early is expected


class Upstream:
    def __init__(self) -> None:
        self._server = _Server()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self) -> list[dict]:
        return self._server.requests

    def last(self) -> dict:
        return self._server.requests[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
