"""An HTTP upstream that counts what reaches it: every request's path and Idempotency-Key,
the most requests it ever had in flight at once, and scripted answers per path.

``/slow/<ms>/...`` answers 200 after that many milliseconds; ``/script/<name>`` answers the
next status in ``scripts[name]`` (then 200); anything else 200 at once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait on delayed ACKs
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        up = self.server.upstream
        with up.lock:
            up.in_flight += 1
            up.max_in_flight = max(up.max_in_flight, up.in_flight)
        try:
            parts = self.path.split("?")[0].strip("/").split("/")
            status = 200
            if parts[0] == "slow":
                time.sleep(int(parts[1]) / 1000)
            elif parts[0] == "script":
                with up.lock:
                    script = up.scripts.get(parts[1], [])
                    status = script.pop(0) if script else 200
            with up.lock:
                up.requests.append(
                    {
                        "path": self.path,
                        "method": self.command,
                        "key": self.headers.get("Idempotency-Key", ""),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body.decode("utf-8", "replace"),
                        "status": status,
                        "at": time.monotonic(),
                    }
                )
            payload = json.dumps({"path": self.path, "status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            with up.lock:
                up.in_flight -= 1

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, upstream: CountingUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # a client hanging up (a killed sidecar) is expected


class CountingUpstream:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.scripts: dict[str, list[int]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r["key"] for r in self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
