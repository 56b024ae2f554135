"""Whether the MCP SDK is installed. It is the ``[mcp]`` extra, not part of ``[sidecar]``: a sidecar
serving only gRPC never loads it. Asking for MCP without it is a usage error that names the extra,
found before anything starts (``find_spec`` looks the packages up without importing them)."""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'custom-api-sidecar[mcp]'"
# what server.py and transports/ import; the rest of the SDK's stack comes with them
SDK_PACKAGES = ("mcp", "mcp_types")


def missing_sdk(asked_for: str) -> str | None:
    """None when the SDK is installed; otherwise what to do, for someone who asked for ``asked_for``."""
    missing = [name for name in SDK_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"{asked_for} needs the MCP SDK, which is not installed (no module {missing[0]!r}). "
        f"Install it with: {INSTALL_HINT}"
    )
