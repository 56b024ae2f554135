"""Vault (and OpenBao) as a secret source: KV v1/v2, namespaces, TLS, and the token,
AppRole, Kubernetes and JWT auth methods."""

from typing import TYPE_CHECKING, Any

from ._settings import AUTH_METHODS, KUBERNETES_TOKEN_PATH, VaultSettings

if TYPE_CHECKING:
    from ._source import VaultSource


def __getattr__(name: str) -> Any:
    # hvac costs ~7 MB of RSS: load it only when Vault is configured.
    if name == "VaultSource":
        from ._source import VaultSource

        return VaultSource
    raise AttributeError(name)


__all__ = ["AUTH_METHODS", "KUBERNETES_TOKEN_PATH", "VaultSettings", "VaultSource"]
