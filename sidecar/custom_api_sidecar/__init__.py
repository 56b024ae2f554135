"""custom-api-sidecar: a gRPC sidecar that calls customers' HTTP APIs for AI agents.

Public entry points: ``Sidecar`` (the composition root), ``SidecarServer`` /
``serve`` (gRPC), ``load_config`` and the CLI (``custom-api-sidecar``).

Names are imported on first use, so the console script can explain a missing
``[sidecar]`` extra instead of failing while this package is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import Sidecar
    from .config import Config, ConfigError
    from .errors import SidecarError
    from .loader import load_config, parse_config
    from .server import Listener, ListenError, SidecarServer, parse_listen, serve

_HOMES = {
    "Sidecar": ".app",
    "Config": ".config",
    "ConfigError": ".config",
    "load_config": ".loader",
    "parse_config": ".loader",
    "SidecarError": ".errors",
    "ListenError": ".server",
    "Listener": ".server",
    "SidecarServer": ".server",
    "parse_listen": ".server",
    "serve": ".server",
}

__all__ = [
    "Config",
    "ConfigError",
    "ListenError",
    "Listener",
    "Sidecar",
    "SidecarError",
    "SidecarServer",
    "__version__",
    "load_config",
    "parse_config",
    "parse_listen",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)
