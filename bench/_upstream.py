"""The benchmark's upstream: nginx when installed (fast, C), else a small asyncio server.

Both answer every GET with the same 1 KB JSON body over keep-alive HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = json.dumps({"id": "42", "padding": "x" * 1000}, separators=(",", ":")).encode()
assert len(BODY) == 1024

_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      return 200 '{body}';
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class BenchUpstream:
    """``url`` serves the 1 KB body; ``kind`` says which server it is."""

    def __init__(self, prefer_nginx: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        self._tmp = tempfile.mkdtemp(prefix="bench-upstream-")
        if prefer_nginx and nginx:
            conf = Path(self._tmp, "nginx.conf")
            conf.write_text(_NGINX_CONF.format(tmp=self._tmp, port=self.port, body=BODY.decode()))
            cmd = [nginx, "-c", str(conf), "-p", self._tmp, "-e", f"{self._tmp}/error.log"]
            self.kind = "nginx"
        else:
            cmd = [sys.executable, "-m", "bench._upstream", str(self.port)]
            self.kind = "asyncio (nginx not installed)"
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port)
        except RuntimeError:
            self.close()
            raise

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        shutil.rmtree(self._tmp, ignore_errors=True)


_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY


class _Protocol(asyncio.Protocol):
    """Answers each request head with the canned response (benchmark GETs carry no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Protocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
