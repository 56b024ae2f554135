"""A hostile HTTP/1.1 server on 127.0.0.1: compression bombs and broken encodings, served as
an upstream API, an OAuth2 token endpoint, an OpenAPI spec and a Vault server.

Every bomb holds ``BOMB_SIZE`` (200 MiB) of zeros. One raw deflate stream of them is made once
per test session (about a second) and wrapped as gzip, zlib-deflate or raw deflate; the
double-gzip bomb is that gzip member gzipped again (about 500 bytes on the wire).

Routes (any method):
  /ok/<coding>             a small JSON body ({"ok": true, "coding": ...}) encoded with <coding>:
                           gzip, x-gzip, deflate (zlib-wrapped), raw-deflate, gzip-gzip,
                           deflate-gzip, gzip-members (two gzip members), br (undecoded bytes)
  /bomb/double-gzip        Content-Encoding: gzip, gzip
  /bomb/gzip               one gzip layer (about 200 KB on the wire)
  /bomb/deflate            zlib-wrapped deflate
  /bomb/raw-deflate        raw deflate
  /bomb/lying-length       the gzip bomb under a Content-Length that lies: 2,000,000 bytes, ten times what
                           is sent (and under what a 1 MiB limit refuses unread), then the connection closes
  /bomb/no-length          the gzip bomb with no Content-Length, ended by closing the connection
  /bomb/huge-length        the gzip bomb under a Content-Length of 10**12 (refusable unread)
  /stacked/<n>             the JSON body gzipped n times
  /garbage-after-gzip      the gzipped JSON body, then garbage without end (until the reader hangs up)
  /truncated-gzip          the gzipped JSON body without its last 6 bytes (the trailer cut)
  /token/bomb              the double-gzip bomb as a token endpoint's application/json answer
  /spec/bomb.yaml          the double-gzip bomb as application/yaml
  /spec/ok.json            an honest small OpenAPI spec, gzipped twice
  /v1/...                  Vault's API: every answer the gzip bomb, whatever Accept-Encoding asked for

The token endpoint and Vault answer 503 until ``arm("token")`` / ``arm("vault")``: a sidecar
fetches from them at startup, and a test measures memory from the moment it arms them.
"""

from __future__ import annotations

import functools
import gzip
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BOMB_SIZE = 200 * 1024 * 1024
JSON_BODY = {"ok": True, "note": "decoded " * 8}
SPEC = {
    "openapi": "3.0.0",
    "info": {"title": "Compressed"},
    "paths": {"/items": {"get": {"operationId": "listItems"}}},
}
GARBAGE_LIMIT = 256 * 1024 * 1024  # the endless garbage stream stops here, or after 60 s, at the latest


@functools.cache
def _zeros_deflate() -> tuple[bytes, int, int]:
    """Raw deflate of BOMB_SIZE zeros, with the zeros' CRC-32 and Adler-32."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts, crc, adler = [], 0, 1
    for _ in range(BOMB_SIZE // len(block)):
        parts.append(compressor.compress(block))
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    parts.append(compressor.flush())
    return b"".join(parts), crc, adler


def gzip_bomb() -> bytes:
    raw, crc, _ = _zeros_deflate()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no flags, mtime 0, best compression, OS unknown
    return header + raw + struct.pack("<II", crc, BOMB_SIZE & 0xFFFFFFFF)


def zlib_bomb() -> bytes:
    raw, _, adler = _zeros_deflate()
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def raw_deflate_bomb() -> bytes:
    return _zeros_deflate()[0]


@functools.cache
def double_gzip_bomb() -> bytes:
    return gzip.compress(gzip_bomb(), 9)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def json_bytes() -> bytes:
    return json.dumps(JSON_BODY).encode()


def encoded_ok(coding: str) -> tuple[str, bytes]:
    """(Content-Encoding, body) for /ok/<coding>."""
    body = json_bytes()
    encoders = {
        "gzip": ("gzip", lambda: gzip.compress(body)),
        "x-gzip": ("X-GZIP", lambda: gzip.compress(body)),
        "deflate": ("deflate", lambda: zlib.compress(body)),
        "raw-deflate": ("deflate", lambda: raw_deflate(body)),
        "gzip-gzip": ("gzip, gzip", lambda: gzip.compress(gzip.compress(body))),
        "deflate-gzip": ("deflate, gzip", lambda: gzip.compress(raw_deflate(body))),
        "gzip-members": ("gzip", lambda: gzip.compress(body[:10]) + gzip.compress(body[10:])),
        "br": ("br", lambda: b"\x8b\x03\x80not really brotli\x03"),
    }
    name, encode = encoders[coding]
    return name, encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _send(
        self,
        body: bytes,
        encoding: str | None = None,
        *,
        content_type: str = "application/json",
        length: int | None = None,
        close: bool = False,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.seen.append((self.command, path, self.headers.get("Accept-Encoding")))
        parts = path.strip("/").split("/")
        if parts[0] == "ok":
            encoding, body = encoded_ok(parts[1])
            self._send(body, encoding, length=len(body))
        elif path == "/bomb/double-gzip":
            body = double_gzip_bomb()
            self._send(body, "gzip, gzip", length=len(body))
        elif path == "/bomb/gzip":
            body = gzip_bomb()
            self._send(body, "gzip", length=len(body))
        elif path == "/bomb/deflate":
            body = zlib_bomb()
            self._send(body, "deflate", length=len(body))
        elif path == "/bomb/raw-deflate":
            body = raw_deflate_bomb()
            self._send(body, "deflate", length=len(body))
        elif path == "/bomb/lying-length":
            self._send(gzip_bomb(), "gzip", length=2_000_000, close=True)
        elif path == "/bomb/no-length":
            self._send(gzip_bomb(), "gzip", close=True)
        elif path == "/bomb/huge-length":
            self._send(gzip_bomb(), "gzip", length=10**12, close=True)
        elif parts[0] == "stacked":
            body = json_bytes()
            for _ in range(int(parts[1])):
                body = gzip.compress(body)
            self._send(body, ", ".join(["gzip"] * int(parts[1])), length=len(body))
        elif path == "/garbage-after-gzip":
            self._send(gzip.compress(json_bytes()), "gzip", close=True)
            self._endless_garbage()
        elif path == "/truncated-gzip":
            body = gzip.compress(json_bytes())[:-6]
            self._send(body, "gzip", length=len(body))
        elif (path == "/token/bomb" and not self.server.is_armed("token")) or (
            parts[0] == "v1" and not self.server.is_armed("vault")
        ):
            self.send_error(503)
        elif path == "/spec/ok.json":
            body = gzip.compress(gzip.compress(json.dumps(SPEC).encode()))
            self._send(body, "gzip, gzip", length=len(body))
        elif path in ("/token/bomb", "/spec/bomb.yaml"):
            body = double_gzip_bomb()
            kind = "application/json" if path.startswith("/token") else "application/yaml"
            self._send(body, "gzip, gzip", content_type=kind, length=len(body))
        elif parts[0] == "v1":  # Vault: compressed although identity was asked for
            body = gzip_bomb()
            self._send(body, "gzip", length=len(body))
        else:
            self.send_error(404)

    def _endless_garbage(self) -> None:
        chunk = b"garbage!" * 8192
        started, sent = time.monotonic(), 0
        try:
            while sent < GARBAGE_LIMIT and time.monotonic() - started < 60:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the reader hung up: what a finished decoder should do
        with self.server.lock:
            self.server.garbage_sent.append(sent)

    do_GET = do_POST = do_PUT = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Accept-Encoding)
        self.garbage_sent: list[int] = []  # bytes of garbage written per /garbage-after-gzip answer
        self.armed: set[str] = set()

    def is_armed(self, what: str) -> bool:
        with self.lock:
            return what in self.armed

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # a reader hanging up on a bomb is expected


class HostileUpstream:
    def __init__(self) -> None:
        self._server = _Server()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def seen(self) -> list[tuple[str, str, str | None]]:
        with self._server.lock:
            return list(self._server.seen)

    def arm(self, what: str) -> None:
        """Let "token" or "vault" answer with bombs from now on."""
        with self._server.lock:
            self._server.armed.add(what)

    @property
    def garbage_sent(self) -> list[int]:
        with self._server.lock:
            return list(self._server.garbage_sent)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
