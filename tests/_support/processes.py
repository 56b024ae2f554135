"""Real processes for the resilience and fleet tests: ``python -m custom_api_sidecar serve``
and ``redis-server``, each on a unix socket in a temporary directory, waited on until ready
and always stopped (SIGKILL on request)."""

from __future__ import annotations

import os
import pathlib
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from custom_api_client import connect


class SidecarProcess:
    """``python -m custom_api_sidecar serve --config FILE --listen unix://SOCKET``; its output is kept."""

    def __init__(
        self,
        config_path: pathlib.Path,
        socket_path: pathlib.Path,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.socket_path = socket_path
        self.target = f"unix://{socket_path}"
        self.lines: list[str] = []
        self._ready: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "custom_api_sidecar",
                "serve",
                "--config",
                str(config_path),
                "--listen",
                self.target,
                "--grace",
                "1",
                *extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none", **(env or {})},
        )
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self._ready.get(timeout=startup_timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError("sidecar did not start:\n" + self.output) from None
        if self.process.poll() is not None:
            raise RuntimeError("sidecar exited:\n" + self.output)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "listening on" in line:
                self._ready.put(line)
        self._ready.put("")  # exited

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def conv(self):  # type: ignore[no-untyped-def]
        return connect(self.target)

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup (a crash)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisServer:
    """A real ``redis-server`` on a free loopback port, no persistence; ``kill`` and ``start`` again
    on the same port simulate an outage."""

    def __init__(self, directory: pathlib.Path, extra_args: Sequence[str] = (), tls: bool = False) -> None:
        """``tls``: the port speaks TLS only (give the --tls-* files in ``extra_args``)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server; tests/run.sh installs it)")
        self._binary = binary
        self._dir = directory
        self._extra = list(extra_args)
        self._tls = tls
        self.port = free_port()
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self._binary,
                *(("--port", "0", "--tls-port", str(self.port)) if self._tls else ("--port", str(self.port))),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--protected-mode",
                "no",
                *self._extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if self._tls:
                        return  # it listens; the TLS handshake is the client's business
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (RESP), for checks from the test."""
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"".join(parts))
            return sock.recv(65536)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HangingServer:
    """Accepts TCP connections on loopback and never answers: an upstream that hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop = True
        self._sock.close()
        for conn in self._held:
            conn.close()
