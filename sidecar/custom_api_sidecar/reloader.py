"""Hot config reload: the config file is watched, and SIGHUP asks for a reload too.

Kubernetes updates a mounted ConfigMap by swapping a symlink (``..data``) to a new directory,
so the file's path stays the same while what it resolves to changes: the watcher compares the
resolved file's identity (device, inode, size, modification time) every ``interval`` seconds,
which sees both that swap and an edit in place. A new file is parsed and checked off the call
path; a valid one replaces the old config atomically, an invalid one is logged problem by
problem (file, API, field) and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING

from ._aio import wait_event
from .config import ConfigError
from .loader import load_config

if TYPE_CHECKING:
    from .app import Sidecar

log = logging.getLogger("custom_api_sidecar.reload")
DEFAULT_INTERVAL = 1.0


def _identity(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)  # follows the symlinks, so a ConfigMap swap changes it
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ConfigReloader:
    """A service: ``start`` begins watching; ``request()`` (SIGHUP) reloads at once."""

    def __init__(self, sidecar: Sidecar, path: str, interval: float = DEFAULT_INTERVAL) -> None:
        self._sidecar = sidecar
        self._path = path
        self._interval = interval
        self._seen = _identity(path)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.rejected = 0

    def request(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="config-reload")

    async def _watch(self) -> None:
        while True:
            forced = await wait_event(self._wake, self._interval)
            self._wake.clear()
            current = _identity(self._path)
            if current is None or (current == self._seen and not forced):
                continue
            self._seen = current
            await self.reload_now()

    async def reload_now(self) -> bool:
        """Load, check and apply the file; True if it was applied."""
        from .app import ReloadRejected

        try:
            # the sidecar's policy, from its flags and environment: the file cannot change it
            config = await asyncio.to_thread(load_config, self._path, self._sidecar.policy)  # imports may fetch
            await self._sidecar.reload(config)
        except (ConfigError, ReloadRejected) as exc:
            self.rejected += 1
            problems = [str(p) for p in exc.problems]
            if isinstance(exc, ConfigError):
                self._sidecar.reload_rejected(self._path, problems)
            log.error(
                "config %s NOT reloaded (still serving the previous one): %d problem(s)", self._path, len(problems)
            )
            for problem in problems:
                log.error("  %s", problem)
            return False
        self.applied += 1
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
