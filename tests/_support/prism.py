"""A real Prism mock server (npm ``@stoplight/prism-cli``) for one spec, on loopback.

``prism mock SPEC --errors`` validates every request against the spec: an invalid
one gets a 422 (or 400/401) with a problem+json body naming the violation, so a
test that gets a 2xx knows the request was valid by a third party's reading.
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import tempfile
import time

from tests._support.sidecar import closed_port

PRISM = pathlib.Path(__file__).parents[1] / "peers" / "node_modules" / ".bin" / "prism"


class Prism:
    def __init__(self, spec: str | pathlib.Path, wait: bool = True) -> None:
        """Starts the server; with ``wait=False`` call ``wait_ready()`` later (to start several at once)."""
        if not PRISM.exists():
            raise RuntimeError(f"{PRISM} is missing: run npm ci --prefix tests/peers (tests/run.sh does)")
        self.spec = str(spec)
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="prism-", suffix=".log")  # noqa: SIM115  # closed in stop()
        self._started = time.monotonic()
        self.startup_seconds = 0.0
        self._process = subprocess.Popen(
            [str(PRISM), "mock", self.spec, "-h", "127.0.0.1", "-p", str(self.port), "--errors"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        try:
            self._wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - self._started

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prism exited with {self._process.returncode}: {self.log_text()[-2000:]}")
            if "is listening on" in self.log_text():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"prism did not start within {timeout}s: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return pathlib.Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log.close()
