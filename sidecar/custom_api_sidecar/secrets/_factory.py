"""Build the store the sidecar runs with: env:// and file:// always, vault:// when configured."""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import metrics

from ._settings import SecretSettings
from ._source import SecretSource
from ._store import SecretStore
from .env import EnvSource
from .file import FileSource
from .vault import VaultSettings

NO_VAULT = (
    "no Vault is configured for vault:// references: give --vault-addr, set VAULT_ADDR, "
    "or add a 'vault:' section with an address to the config file"
)


def build_secret_store(
    vault: VaultSettings | None = None,
    settings: SecretSettings | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    meter_provider: metrics.MeterProvider | None = None,
) -> SecretStore:
    """``vault`` is the already layered settings (flags, env, config); ValueError if unusable."""
    env = EnvSource(environ)
    file = FileSource()
    sources: dict[str, SecretSource] = {"env": env, "file": file}
    missing = {}
    if vault is not None and vault.configured:
        from .vault._source import VaultSource  # hvac loads only when Vault is configured

        sources["vault"] = VaultSource(vault, local={"env": env, "file": file}, environ=environ)
    else:
        missing["vault"] = NO_VAULT
    return SecretStore(sources, settings, missing_source=missing, meter_provider=meter_provider)
