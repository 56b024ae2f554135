"""KV secrets engine, v1 and v2: which mount a path is on, which version it runs, and reads.

Versions come from the ``mounts`` setting, else are detected once per mount with the
same preflight the Vault CLI uses (``sys/internal/ui/mounts/<path>``, readable by any
token that may read the path) and cached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from .._source import SecretUnavailable


@dataclass(frozen=True)
class KvSecret:
    data: Mapping[str, Any]
    lease_seconds: float | None  # KV v1 lease_duration; None for KV v2


class MountNotVisible(SecretUnavailable):
    """The preflight was refused (403): no such mount, or the token may not see it, or the token is dead."""


class KvMounts:
    def __init__(self, configured: Mapping[str, int] | None = None) -> None:
        self._versions: dict[str, int] = {mount.strip("/"): version for mount, version in (configured or {}).items()}
        self._lock = threading.Lock()

    def locate(self, client: hvac.Client, location: str) -> tuple[str, str, int]:
        """``location`` (mount/path) -> (mount, path inside it, KV version)."""
        mount = self._known_mount(location)
        if mount is None:
            mount, version = self._detect(client, location)
            with self._lock:
                self._versions[mount] = version
        path = location[len(mount) + 1 :]
        if not path:
            raise SecretUnavailable(f"the reference names the mount {mount!r} but no secret path inside it")
        return mount, path, self._versions[mount]

    def _known_mount(self, location: str) -> str | None:
        with self._lock:
            matches = [m for m in self._versions if location.startswith(m + "/")]
        return max(matches, key=len) if matches else None

    def _detect(self, client: hvac.Client, location: str) -> tuple[str, int]:
        first = location.split("/", 1)[0]
        try:
            data = client.adapter.get(f"/v1/sys/internal/ui/mounts/{location}")["data"]
        except hvac.exceptions.Forbidden:
            # Vault answers 403 both for a missing mount and for one the token may not see.
            raise MountNotVisible(
                f"no secrets engine at {first!r} that this token may read (403); "
                f"if the mount exists, set its KV version in the config: vault.mounts.{first}: 1 or 2"
            ) from None
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            raise SecretUnavailable(f"no secrets engine is mounted at {first!r}") from None
        mount = str(data.get("path") or "").strip("/")
        engine = data.get("type")
        if not mount or not location.startswith(mount + "/"):
            raise SecretUnavailable(f"no secrets engine is mounted at {first!r}")
        if engine not in ("kv", "generic"):
            raise SecretUnavailable(f"mount {mount!r} is a {engine!r} secrets engine, not KV")
        version = str((data.get("options") or {}).get("version") or "1")
        return mount, 2 if version == "2" else 1


def read(client: hvac.Client, mount: str, path: str, version: int) -> KvSecret:
    if version == 2:
        response = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
        return KvSecret(data=response["data"]["data"] or {}, lease_seconds=None)
    response = client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
    return KvSecret(data=response["data"] or {}, lease_seconds=float(response.get("lease_duration") or 0) or None)
