"""custom-api-sidecar: a gRPC sidecar that calls customers' HTTP APIs for AI agents.

Public entry points: ``Sidecar`` (the composition root), ``SidecarServer`` /
``serve`` (gRPC), ``load_config`` and the CLI (``custom-api-sidecar``).
"""

from .app import Sidecar
from .config import Config, ConfigError, load_config, parse_config
from .errors import SidecarError
from .server import Listener, ListenError, SidecarServer, parse_listen, serve

__all__ = [
    "Config",
    "ConfigError",
    "ListenError",
    "Listener",
    "Sidecar",
    "SidecarError",
    "SidecarServer",
    "load_config",
    "parse_config",
    "parse_listen",
    "serve",
]
