"""Vault connection and login settings.

Each setting comes from a CLI flag, else the standard ``VAULT_*`` environment variable,
else the config file's ``vault:`` section (``VaultSettings.layered``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

AUTH_METHODS = ("token", "approle", "kubernetes", "jwt")
DEFAULT_TIMEOUT = 5.0
KUBERNETES_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class VaultSettings:
    """Every field optional, so partial layers (flags, env, config) can be merged."""

    address: str | None = None
    namespace: str | None = None
    ca_cert: str | None = None  # a PEM file (or directory) of CAs to trust
    client_cert: str | None = None  # PEM client certificate for mutual TLS
    client_key: str | None = None
    skip_verify: bool | None = None  # only ever true when asked for
    timeout: float | None = None  # seconds per Vault request
    mounts: Mapping[str, int] | None = None  # KV mount -> version 1 or 2; others are detected
    auth_method: str | None = None  # token | approle | kubernetes | jwt
    auth_mount: str | None = None  # where the auth method is mounted (default: its name)
    token: str | None = None  # a literal token: only from VAULT_TOKEN, never from a file or flag
    token_file: str | None = None
    role: str | None = None  # kubernetes and jwt
    role_id: str | None = None  # approle: a literal or an env:// / file:// reference
    secret_id: str | None = None  # approle: an env:// / file:// reference
    jwt: str | None = None  # jwt / kubernetes: an env:// / file:// reference

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> VaultSettings:
        skip = environ.get("VAULT_SKIP_VERIFY")
        return cls(
            address=environ.get("VAULT_ADDR") or None,
            namespace=environ.get("VAULT_NAMESPACE") or None,
            ca_cert=environ.get("VAULT_CACERT") or None,
            client_cert=environ.get("VAULT_CLIENT_CERT") or None,
            client_key=environ.get("VAULT_CLIENT_KEY") or None,
            skip_verify=skip.strip().lower() in _TRUE if skip else None,
            token=environ.get("VAULT_TOKEN") or None,
        )

    @classmethod
    def layered(cls, *layers: VaultSettings | None) -> VaultSettings:
        """Per field, the first layer that sets it."""
        values = {}
        for item in dataclasses.fields(cls):
            for layer in layers:
                value = getattr(layer, item.name) if layer is not None else None
                if value is not None:
                    values[item.name] = value
                    break
        return cls(**values)

    @property
    def configured(self) -> bool:
        return bool(self.address)
