"""Vault flags for ``serve`` and ``validate``, and the secret report ``validate`` prints.

Flags override the standard ``VAULT_*`` variables, which override the config's
``vault:`` section. There is no flag for a literal token (it would show in ``ps``):
use VAULT_TOKEN or --vault-token-file.
"""

from __future__ import annotations

import argparse
import asyncio

from ._store import SecretStatus, SecretStore
from .vault._settings import AUTH_METHODS, VaultSettings

OFFLINE = "not checked (--offline)"


def add_vault_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Vault (each falls back to its VAULT_* variable, then the config's vault:)")
    group.add_argument("--vault-addr", help="Vault address, e.g. https://vault:8200 ($VAULT_ADDR)")
    group.add_argument("--vault-namespace", help="Vault namespace ($VAULT_NAMESPACE)")
    group.add_argument("--vault-cacert", help="PEM file of CAs to trust for Vault ($VAULT_CACERT)")
    group.add_argument("--vault-client-cert", help="client certificate for mutual TLS ($VAULT_CLIENT_CERT)")
    group.add_argument("--vault-client-key", help="client key for mutual TLS ($VAULT_CLIENT_KEY)")
    group.add_argument(
        "--vault-skip-verify",
        action="store_true",
        default=None,
        help="do not verify Vault's TLS certificate: testing only ($VAULT_SKIP_VERIFY)",
    )
    group.add_argument("--vault-auth-method", choices=AUTH_METHODS, help="how the sidecar logs in (default token)")
    group.add_argument("--vault-auth-mount", help="where the auth method is mounted (default: the method's name)")
    group.add_argument("--vault-token-file", help="file holding a Vault token (default: $VAULT_TOKEN, ~/.vault-token)")
    group.add_argument("--vault-role", help="role for kubernetes and jwt auth")
    group.add_argument("--vault-role-id", help="AppRole role_id: a literal id or an env:// / file:// reference")
    group.add_argument("--vault-secret-id", help="AppRole secret_id: an env:// or file:// reference")
    group.add_argument(
        "--vault-jwt",
        help="JWT for jwt/kubernetes auth: an env:// or file:// reference "
        "(kubernetes default: the pod's service account token)",
    )


def vault_settings_from_flags(args: argparse.Namespace) -> VaultSettings:
    return VaultSettings(
        address=args.vault_addr,
        namespace=args.vault_namespace,
        ca_cert=args.vault_cacert,
        client_cert=args.vault_client_cert,
        client_key=args.vault_client_key,
        skip_verify=args.vault_skip_verify,
        auth_method=args.vault_auth_method,
        auth_mount=args.vault_auth_mount,
        token_file=args.vault_token_file,
        role=args.vault_role,
        role_id=args.vault_role_id,
        secret_id=args.vault_secret_id,
        jwt=args.vault_jwt,
    )


def check_references(store: SecretStore, *, offline: bool = False) -> list[SecretStatus]:
    """Resolve every registered reference once (Vault too, unless ``offline``) and report; no values."""
    if offline:
        store.disable_scheme("vault", OFFLINE)
    statuses = asyncio.run(store.check())
    # An offline vault:// reference was parsed and registered but not looked up: not a failure.
    return [SecretStatus(s.text, True, OFFLINE) if s.detail == OFFLINE else s for s in statuses]
