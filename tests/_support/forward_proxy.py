"""A real forward proxy on loopback: Debian's tinyproxy (plain HTTP and CONNECT), with its log,
which names the host:port each request was sent to."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time


class TinyProxy:
    def __init__(self, folder: pathlib.Path) -> None:
        binary = shutil.which("tinyproxy")
        assert binary, "tinyproxy is not installed (tests/run.sh installs Debian's tinyproxy)"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = folder / "tinyproxy.log"
        config = folder / "tinyproxy.conf"
        config.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nLogLevel Info\n"
            f'MaxClients 50\nDisableViaHeader Yes\nLogFile "{self.log}"\n'
        )
        self._proc = subprocess.Popen(
            [binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"tinyproxy did not start: {self._proc.stderr.read() if self._proc.stderr else ''}"
                    ) from None
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def opened(self) -> list[str]:
        """``host:port`` of every connection the proxy opened, in order."""
        text = self.log.read_text() if self.log.exists() else ""
        return [
            line.split("opening connection to ", 1)[1].strip()
            for line in text.splitlines()
            if "opening connection to" in line
        ]

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
