"""A private host for commands that use fixed ports and paths (README commands, examples/run.sh).

The README's commands use 127.0.0.1:8787, 127.0.0.1:50051 and /tmp/custom-api-sidecar.sock as
written. Running them on the shared test machine could collide with anything else, so they run in
their own network namespace (only loopback) and mount namespace (their own /tmp, a folder of the
test's), entered with nsenter. Needs root, as CI has; without it the fixture fails, naming why.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time
from typing import IO

ROOT = pathlib.Path(__file__).resolve().parents[2]


class IsolatedHost:
    def __init__(self, tmp: pathlib.Path) -> None:
        """``tmp`` (a folder outside the namespace) becomes ``/tmp`` inside it."""
        missing = [tool for tool in ("unshare", "nsenter", "ip", "mount") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"isolated host: missing tools {missing} (Debian util-linux, iproute2)")
        self.tmp = tmp
        ready = tmp / ".ready"
        setup = "ip link set lo up"
        if ROOT.is_relative_to("/tmp"):  # a checkout under /tmp stays visible at the same path
            inner = tmp / ROOT.relative_to("/tmp")
            inner.mkdir(parents=True, exist_ok=True)
            setup += f" && mount --bind {ROOT} {inner}"
        setup += f" && mount --rbind {tmp} /tmp && touch /tmp/.ready && exec sleep infinity"
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--fork", "--kill-child", "bash", "-c", setup],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 10
        while not ready.exists():
            if self._holder.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"isolated host: could not make namespaces (root needed): {self._stderr()}")
            time.sleep(0.05)
        children = pathlib.Path(f"/proc/{self._holder.pid}/task/{self._holder.pid}/children").read_text().split()
        self.pid = int(children[0])  # the namespaced process (unshare --fork's child)

    def _stderr(self) -> str:
        if self._holder.poll() is None:
            return ""
        return (self._holder.stderr.read() if self._holder.stderr else "").strip()

    def _command(self, script: str) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-n", "-m", "--", "bash", "-c", f"cd {ROOT} && {script}"]

    def run(self, script: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash script in the checkout, inside the namespaces, and wait for it."""
        return subprocess.run(
            self._command(script), input=stdin, capture_output=True, text=True, timeout=timeout, env=_reader_env()
        )

    def start(self, script: str, output: IO[str]) -> subprocess.Popen[str]:
        """Start a long-running bash script inside the namespaces; stdout and stderr go to ``output``."""
        return subprocess.Popen(
            self._command(script),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=_reader_env(),
        )

    def close(self) -> None:
        if self._holder.poll() is None:
            self._holder.kill()  # --kill-child takes the namespace's processes with it
        self._holder.wait(10)


def _reader_env() -> dict[str, str]:
    """The environment a reader's shell has: not the operator policy the suite runs under
    (conftest.py), so what the README's commands need they must set themselves."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CUSTOM_API_SIDECAR_POLICY_")}


def wait_for_text(path: pathlib.Path, text: str, timeout: float, proc: subprocess.Popen[str] | None = None) -> str:
    """Wait until the file at ``path`` contains ``text``; return its content."""
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear in {path.name} within {timeout:g} s; it holds:\n{content}")
        time.sleep(0.1)
