"""The config file's ``vault:`` and ``secrets:`` sections, checked like the rest of the
file: every problem reported (through ``add(field, message)``), none raised."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from .._text import shown
from ._heuristics import looks_like_secret
from ._reference import parse_reference
from ._settings import SecretSettings
from .vault._settings import AUTH_METHODS, VaultSettings

AddProblem = Callable[[str, str], None]

# Key -> the line the config reference shows for it (tools/docs_reference.py fails on a key without one).
VAULT_KEYS = {
    "address": "Vault's URL, e.g. `https://vault:8200` (`--vault-addr`, `$VAULT_ADDR` win).",
    "namespace": "Vault Enterprise / OpenBao namespace.",
    "ca_cert": "Absolute path of a PEM file (or directory) of CAs to trust for Vault.",
    "client_cert": "Absolute path of a PEM client certificate for mutual TLS.",
    "client_key": "Absolute path of its private key.",
    "skip_verify": "Do not verify Vault's certificate (testing only; default false).",
    "timeout_s": "Seconds per Vault request (default 5).",
    "mounts": "KV mount -> version (`{kv: 2, legacy: 1}`); other mounts are detected.",
    "auth": "How the sidecar logs in to Vault (below).",
}
AUTH_KEYS = {
    "method": "token (default), approle, kubernetes or jwt.",
    "mount": "Where the auth method is mounted (default: the method's name).",
    "token_file": "token: absolute path of a file holding the token (else `$VAULT_TOKEN`, else ~/.vault-token).",
    "role": "kubernetes and jwt: the role to log in as.",
    "role_id": "approle: the role id, a literal or an env:// / file:// reference.",
    "secret_id": "approle: an env:// or file:// reference to the secret id.",
    "jwt": "jwt and kubernetes: an env:// or file:// reference to the token (kubernetes default: the pod's "
    "service-account token).",
}
SECRETS_KEYS = {
    "refresh_interval_s": "Every value is re-read this often (default 300), so a rotated secret is in use within "
    "one interval.",
    "max_staleness_s": "While its source is down, a value keeps serving this long after its last good read "
    "(default 3600); then CREDENTIALS_UNAVAILABLE.",
    "retry_interval_s": "After a failed read, try again this soon (default 10; at most refresh_interval_s).",
}


def parse_vault_section(add: AddProblem, raw: Any) -> VaultSettings | None:
    if raw is None:
        return None
    if not _mapping(add, "vault", raw, VAULT_KEYS):
        return None
    values: dict[str, Any] = {}
    for key in ("address", "namespace", "ca_cert", "client_cert", "client_key"):
        if key in raw:
            values[key] = _text(add, f"vault.{key}", raw[key])
    if "address" in raw and values.get("address") and not str(values["address"]).startswith(("http://", "https://")):
        add("vault.address", "must be an http:// or https:// URL")
    for key in ("ca_cert", "client_cert", "client_key"):
        if values.get(key) and not str(values[key]).startswith("/"):
            add(f"vault.{key}", "must be an absolute path")
    if "skip_verify" in raw:
        if isinstance(raw["skip_verify"], bool):
            values["skip_verify"] = raw["skip_verify"]
        else:
            add("vault.skip_verify", f"must be true or false, not {shown(raw['skip_verify'])}")
    if "timeout_s" in raw:
        values["timeout"] = _seconds(add, "vault.timeout_s", raw["timeout_s"])
    if "mounts" in raw:
        values["mounts"] = _mounts(add, raw["mounts"])
    if "auth" in raw:
        values.update(_auth(add, raw["auth"]))
    return VaultSettings(**{key: value for key, value in values.items() if value is not None})


def parse_secrets_section(add: AddProblem, raw: Any) -> SecretSettings:
    if raw is None or not _mapping(add, "secrets", raw, SECRETS_KEYS):
        return SecretSettings()
    defaults = SecretSettings()
    return SecretSettings(
        refresh_interval=_seconds(add, "secrets.refresh_interval_s", raw.get("refresh_interval_s"))
        or defaults.refresh_interval,
        max_staleness=_seconds(add, "secrets.max_staleness_s", raw.get("max_staleness_s")) or defaults.max_staleness,
        retry_interval=_seconds(add, "secrets.retry_interval_s", raw.get("retry_interval_s"))
        or defaults.retry_interval,
    )


def _auth(add: AddProblem, raw: Any) -> dict[str, Any]:
    if not _mapping(add, "vault.auth", raw, AUTH_KEYS):
        return {}
    values: dict[str, Any] = {}
    method = raw.get("method")
    if method is not None and method not in AUTH_METHODS:
        add("vault.auth.method", f"{shown(method)} is not one of {', '.join(AUTH_METHODS)}")
    else:
        values["auth_method"] = method
    for key, target in (("mount", "auth_mount"), ("role", "role"), ("token_file", "token_file")):
        if key in raw:
            values[target] = _text(add, f"vault.auth.{key}", raw[key])
    if values.get("token_file") and not values["token_file"].startswith("/"):
        add("vault.auth.token_file", "must be an absolute path")
    if "role_id" in raw:  # an AppRole role_id is an identifier, so a literal is allowed
        values["role_id"] = _credential(add, "vault.auth.role_id", raw["role_id"], literal_ok=True)
    for key in ("secret_id", "jwt"):
        if key in raw:
            values[key] = _credential(add, f"vault.auth.{key}", raw[key], literal_ok=False)
    return values


def _credential(add: AddProblem, field: str, value: Any, *, literal_ok: bool) -> str | None:
    if not isinstance(value, str) or not value:
        add(field, "must be a non-empty string")
        return None
    if value.startswith(("env://", "file://")):
        try:
            parse_reference(value)
        except ValueError as exc:
            add(field, str(exc))
            return None
        return value
    if value.startswith("vault://"):
        add(field, "cannot be a vault:// reference (it is needed to log in to Vault); use env:// or file://")
        return None
    if not literal_ok or looks_like_secret(value):
        add(field, "must be an env:// or file:// reference, not a literal secret (the value is not shown)")
        return None
    return value


def _mounts(add: AddProblem, raw: Any) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        add("vault.mounts", "must be a mapping of KV mount to version, like {kv: 2, legacy: 1}")
        return None
    mounts = {}
    for mount, version in raw.items():
        if not isinstance(mount, str) or not mount.strip("/"):
            add("vault.mounts", f"{shown(mount)} is not a mount path")
        elif version not in (1, 2) or isinstance(version, bool):
            add(f"vault.mounts.{mount}", f"KV version must be 1 or 2, not {shown(version)}")
        else:
            mounts[mount.strip("/")] = version
    return mounts


def _mapping(add: AddProblem, field: str, raw: Any, allowed: Collection[str]) -> bool:
    if not isinstance(raw, dict):
        add(field, "must be a mapping")
        return False
    for key in raw:
        if key not in allowed:
            add(f"{field}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
    return True


def _text(add: AddProblem, field: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        add(field, "must be a non-empty string")
        return None
    return value


def _seconds(add: AddProblem, field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        add(field, f"must be a positive number of seconds, not {shown(value)}")
        return None
    return float(value)
