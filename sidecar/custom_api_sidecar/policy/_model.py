"""The operator's policy: what API definitions may reference and open.

The operator (serve flags, the sidecar's environment, chart values) is trusted; the authors of
API definitions (customers, whose files are hot-reloaded) are not trusted to read anything the
operator did not hand out. So the policy never comes from the definitions file, and a reload of
that file cannot change it. Every setting is a constructor argument falling back to a documented
environment variable (``from_env``); the CLI's flags win over the variables (``_cli``).

Some things are refused whatever the policy says: the sidecar's own settings (``VAULT_TOKEN`` and
the like) and the kernel's and Kubernetes' own files are never an API's credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "CUSTOM_API_SIDECAR_POLICY_"
ENV_EGRESS = f"{ENV_PREFIX}EGRESS"
ENV_SECRET_SCHEMES = f"{ENV_PREFIX}SECRET_SCHEMES"
ENV_VAULT_PREFIXES = f"{ENV_PREFIX}VAULT_PREFIXES"
ENV_ENV_NAMES = f"{ENV_PREFIX}ENV_NAMES"
ENV_FILE_DIRS = f"{ENV_PREFIX}FILE_DIRS"
ENV_SPEC_DIRS = f"{ENV_PREFIX}SPEC_DIRS"
ENV_PROXIES = f"{ENV_PREFIX}PROXIES"
ENV_EXTRA_ARGUMENTS = f"{ENV_PREFIX}EXTRA_ARGUMENTS"

# The egress opt-ins of an API that only an operator can allow: where its requests may go, and
# what of the agent's context they may carry (baggage: often user ids or emails).
EGRESS_OPT_INS = ("private_network", "ip_allowlist", "allow_http", "verify_ssl_off", "baggage")
SECRET_SCHEMES = ("vault", "env", "file")
# file:// references and CA bundle paths may read below these unless the operator names others.
DEFAULT_FILE_DIRS = ("/etc/custom-api-sidecar/secrets",)

# Variables the sidecar, its libraries or its pod identity read: never an API's credential
# (matched case-insensitively, as globs). VAULT_TOKEN in a header to a customer's URL is the
# attack this stops.
SIDECAR_ENV = (
    "CUSTOM_API_SIDECAR_*",
    "VAULT_*",
    "BAO_*",
    "REDIS_*",
    "OTEL_*",
    "KUBERNETES_*",
    "GRPC_*",
    "POD_NAME",
    "POD_NAMESPACE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HOME",
    "PATH",
    "PYTHON*",
    "AWS_*",  # the pod's cloud identity (IRSA, ...)
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_*",
)
# Directories whose files are never an API's credential, even below an allowed directory.
SIDECAR_FILES = (
    "/proc",
    "/sys",
    "/dev",
    "/var/run/secrets/kubernetes.io",  # the service-account token
    "/run/secrets/kubernetes.io",
    "/var/run/secrets/eks.amazonaws.com",  # the pod's cloud identity token
    "/run/secrets/eks.amazonaws.com",
)


@dataclass(frozen=True)
class OperatorPolicy:
    """``egress``: which of ``EGRESS_OPT_INS`` an API may turn on (none by default).
    ``secret_schemes``: the reference schemes an API may use. ``vault_prefixes``: Vault
    ``mount/path`` prefixes an API may read (empty: any path the sidecar's Vault token can read;
    a prefix may hold ``{environment}``). ``env_names``: globs of variable names an API may read
    (never the sidecar's own). ``file_dirs``: directories whose files ``file://`` references and
    CA bundle paths may read. ``spec_dirs``: directories local OpenAPI specs may come from,
    besides the config file's own directory. ``proxies``: forward proxy URLs an API may name in
    ``connection.proxy`` (``HTTPS_PROXY``/``HTTP_PROXY`` are the operator's and always allowed).
    ``extra_arguments``: ``refuse`` makes every API accept only its operations' declared
    arguments (``security.extra_arguments: refuse``), whatever its definition says; None leaves it
    to each API."""

    egress: frozenset[str] = frozenset()
    secret_schemes: frozenset[str] = frozenset(SECRET_SCHEMES)
    vault_prefixes: tuple[str, ...] = ()
    env_names: tuple[str, ...] = ("*",)
    file_dirs: tuple[str, ...] = DEFAULT_FILE_DIRS
    spec_dirs: tuple[str, ...] = ()
    proxies: tuple[str, ...] = ()
    extra_arguments: str | None = None
    # Where each setting came from, for messages: "default", a flag or a variable.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.egress) - set(EGRESS_OPT_INS)
        if unknown:
            raise ValueError(f"unknown egress opt-in(s) {', '.join(sorted(unknown))}: use {', '.join(EGRESS_OPT_INS)}")
        unknown = set(self.secret_schemes) - set(SECRET_SCHEMES)
        if unknown:
            raise ValueError(f"unknown secret scheme(s) {', '.join(sorted(unknown))}: use {', '.join(SECRET_SCHEMES)}")
        if self.extra_arguments not in (None, "refuse"):
            raise ValueError(f"extra arguments policy {self.extra_arguments!r}: use refuse (or leave it unset)")
        for directory in (*self.file_dirs, *self.spec_dirs):
            if not directory.startswith("/"):
                raise ValueError(f"policy directory {directory!r} must be an absolute path")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: list[str] | None) -> OperatorPolicy:
        """The policy the variables set, with ``overrides`` (from flags) winning; unset means the default."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key, variable in _VARIABLES.items():
            given = overrides.get(key)
            if given is not None:
                values[key], sources[key] = list(given), _FLAGS[key]
            elif environ.get(variable, "").strip():
                values[key], sources[key] = _split(environ[variable]), variable
            else:
                continue
            values[key] = _typed(key, values[key])
        return cls(**values, sources=sources)

    def source(self, key: str) -> str:
        """Where a setting came from, to name in a refusal: the flag or variable, else how to set it."""
        if key in self.sources:
            return self.sources[key]
        default = _DEFAULT_SETS[key] if key in _DEFAULT_SETS else getattr(OperatorPolicy, key, None)
        is_default = getattr(self, key) == default
        return f"{'the default; ' if is_default else ''}set {_FLAGS[key]} or {_VARIABLES[key]}"

    def describe(self) -> list[str]:
        """One line per setting, for ``validate`` and the startup log."""
        return [
            f"egress opt-ins allowed: {', '.join(sorted(self.egress)) or 'none'}",
            f"secret schemes: {', '.join(sorted(self.secret_schemes)) or 'none'}",
            f"vault paths: {', '.join(self.vault_prefixes) or 'any the sidecar can read'}",
            f"env variables: {', '.join(self.env_names) or 'none'} (never the sidecar's own)",
            f"file directories: {', '.join(self.file_dirs) or 'none'}",
            f"spec directories: the config file's own{''.join(', ' + d for d in self.spec_dirs)}",
            f"proxies: {', '.join(self.proxies) or 'HTTPS_PROXY/HTTP_PROXY only'}",
            f"extra arguments: {'refused for every API' if self.extra_arguments else 'as each API says'}",
        ]


_DEFAULT_SETS = {"egress": frozenset(), "secret_schemes": frozenset(SECRET_SCHEMES)}
_VARIABLES = {
    "egress": ENV_EGRESS,
    "secret_schemes": ENV_SECRET_SCHEMES,
    "vault_prefixes": ENV_VAULT_PREFIXES,
    "env_names": ENV_ENV_NAMES,
    "file_dirs": ENV_FILE_DIRS,
    "spec_dirs": ENV_SPEC_DIRS,
    "proxies": ENV_PROXIES,
    "extra_arguments": ENV_EXTRA_ARGUMENTS,
}
_FLAGS = {
    "egress": "--policy-egress",
    "secret_schemes": "--policy-secret-schemes",
    "vault_prefixes": "--policy-vault-prefix",
    "env_names": "--policy-env-name",
    "file_dirs": "--policy-file-dir",
    "spec_dirs": "--policy-spec-dir",
    "proxies": "--policy-proxy",
    "extra_arguments": "--policy-extra-arguments",
}


def _typed(key: str, values: list[str]) -> object:
    if key in ("egress", "secret_schemes"):
        return frozenset(values)
    if key == "extra_arguments":
        return ",".join(values)  # one word: refuse (__post_init__ checks it)
    return tuple(values)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
