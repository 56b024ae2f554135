"""Real OAuth2 peers on loopback: the npm ``oauth2-mock-server`` (through the small
control wrapper ``oauth2_server.mjs``) and a protected API that accepts only valid,
unexpired tokens signed by it."""

from __future__ import annotations

import json
import pathlib
import queue
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tests/peers/node_modules/oauth2-mock-server/dist/index.mjs"
WRAPPER = pathlib.Path(__file__).with_name("oauth2_server.mjs")


class OAuth2MockServer:
    """``oauth2-mock-server`` in a node process; its token endpoint is ``token_url``."""

    def __init__(self, startup_timeout: float = 30.0) -> None:
        if not PACKAGE.exists():
            raise RuntimeError(f"{PACKAGE} is missing: run `npm ci --prefix tests/peers` (tests/run.sh does)")
        self._process = subprocess.Popen(
            ["node", str(WRAPPER), str(PACKAGE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self._process.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=startup_timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError("oauth2-mock-server did not start") from None
        if not first:
            self._process.wait(5)
            raise RuntimeError(f"oauth2-mock-server exited: {self._process.stderr.read()}")
        self.url: str = json.loads(first)["url"]
        self.token_url = f"{self.url}/token"

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_control/{path}", data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def configure(self, **settings: Any) -> None:
        """expires_in (s), fail_status, fail_body, delay_ms; None clears one."""
        self._control("config", settings)

    def reset(self) -> None:
        self._control("reset", {})

    def stats(self) -> dict[str, Any]:
        return self._control("stats")

    @property
    def hits(self) -> int:
        return self.stats()["hits"]

    def jwks(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/jwks", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProtectedServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.server.api.check(self.headers.get("Authorization", ""), self.path)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ProtectedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: ProtectedApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


class ProtectedApi:
    """Accepts ``Authorization: Bearer <jwt>`` only when the JWT is signed by the issuer, unexpired
    and not revoked; anything else is 401. Records every token it saw and when."""

    def __init__(self, issuer: OAuth2MockServer) -> None:
        self._keys = KeySet.import_key_set(issuer.jwks())
        self._lock = threading.Lock()
        self.revoked: set[str] = set()
        self.seen: list[tuple[float, str, int, int]] = []  # (time, token, exp, status)
        self._server = _ProtectedServer(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def check(self, authorization: str, path: str) -> tuple[int, dict[str, Any]]:
        now = time.time()
        scheme, _, value = authorization.partition(" ")
        if scheme != "Bearer" or not value:
            return 401, {"error": "missing bearer token"}
        try:
            claims = jwt.decode(value, self._keys).claims
        except (JoseError, ValueError):
            return 401, {"error": "bad token"}
        exp = int(claims.get("exp", 0))
        # /deny/... refuses every token: an upstream whose 401 no fresh token can fix.
        status = 401 if value in self.revoked or exp <= now or path.startswith("/deny") else 200
        with self._lock:
            self.seen.append((now, value, exp, status))
        if status == 401:
            return 401, {"error": "revoked" if value in self.revoked else "expired or denied"}
        return 200, {"path": path, "scope": claims.get("scope"), "aud": claims.get("aud")}

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    @property
    def expired_seen(self) -> list[tuple[float, str, int, int]]:
        return [entry for entry in self.seen if entry[2] <= entry[0]]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
