"""``vault://<mount>/<path>#<field>``: values from Vault (or OpenBao) KV v1/v2 via hvac.

hvac is synchronous: ``fetch`` runs in a worker thread (the store's refresher), and
one lock serialises use of the client between that and token renewal. The sidecar's
own token is renewed at 2/3 of its TTL; when it is not renewable, renewal fails, or
Vault answers 403 for a token that is no longer valid, the source logs in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

import hvac

from .._reference import SecretRef, parse_reference
from .._source import Fetched, SecretSource, SecretUnavailable, select_field
from . import _kv
from ._bounded import bounded_session
from ._errors import VAULT_ERRORS, describe
from ._settings import AUTH_METHODS, DEFAULT_TIMEOUT, KUBERNETES_TOKEN_PATH, VaultSettings
from .auth import AppRoleAuth, AuthMethod, Credential, JwtAuth, KubernetesAuth, Login, TokenAuth

log = logging.getLogger("custom_api_sidecar.secrets.vault")
_CredentialFactory = Callable[[str, str], Credential]

RENEW_AT = 2 / 3  # of the token's TTL
RETRY_LOGIN = 10.0  # seconds between attempts while Vault is unreachable or login fails
IDLE = 3600.0  # re-check a token that does not expire this often


class VaultSource:
    def __init__(
        self,
        settings: VaultSettings,
        *,
        local: Mapping[str, SecretSource] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        """``local`` resolves env:// and file:// references in login settings. ValueError names a bad setting."""
        if not settings.address:
            raise ValueError("Vault address is not set (--vault-addr, VAULT_ADDR or vault.address)")
        self.settings = settings
        self.address = settings.address
        self._local = dict(local or {})
        self.auth = _auth_method(settings, self._credential)
        verify: bool | str = True
        if settings.skip_verify:
            verify = False
            log.warning("TLS verification of Vault at %s is OFF (skip_verify was asked for)", self.address)
        elif settings.ca_cert:
            verify = settings.ca_cert
        if bool(settings.client_cert) != bool(settings.client_key):
            raise ValueError("Vault client_cert and client_key must be given together")
        cert = (settings.client_cert, settings.client_key) if settings.client_cert and settings.client_key else None
        self._client = hvac.Client(
            url=self.address,
            verify=verify,
            cert=cert,
            timeout=settings.timeout or DEFAULT_TIMEOUT,
            namespace=settings.namespace,
            session=bounded_session(verify, cert),  # every answer read with a size bound
        )
        self._kv = _kv.KvMounts(settings.mounts)
        self._lock = threading.Lock()
        self._login: Login | None = None
        self._full_ttl = 0.0
        self._expires_at = 0.0  # monotonic; meaningful when _login.ttl > 0
        self._renew_task: asyncio.Task[None] | None = None
        self.logins = 0  # how many times this source logged in (for status and tests)
        self.renewals = 0

    # --- SecretSource ----------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self._locked_login)
        except SecretUnavailable as exc:  # fetches retry the login; Vault may come up later
            log.warning("Vault login failed: %s", exc)
        self._renew_task = asyncio.create_task(self._renew_forever(), name="vault-token-renewal")

    def fetch(self, ref: SecretRef) -> Fetched:
        with self._lock:
            try:
                if self._login is None:
                    self._log_in()
                secret = self._read(ref)
            except SecretUnavailable as exc:
                raise SecretUnavailable(f"{ref.text}: {exc}") from None
            except VAULT_ERRORS as exc:
                raise SecretUnavailable(f"{ref.text}: {describe(exc, self.address)}") from None
        return Fetched(select_field(ref, dict(secret.data), "the Vault secret"), secret.lease_seconds)

    async def aclose(self) -> None:
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
            self._renew_task = None
        await asyncio.to_thread(self._client.adapter.close)

    # --- reading -------------------------------------------------------------------

    def _read(self, ref: SecretRef) -> _kv.KvSecret:
        try:
            return self._locate_and_read(ref)
        except (hvac.exceptions.Forbidden, _kv.MountNotVisible):
            if self._token_is_valid():
                raise  # a policy denial: logging in again would not help
            log.info("Vault token is no longer valid; logging in again (%s)", self.auth.description)
            self._log_in()
            return self._locate_and_read(ref)

    def _locate_and_read(self, ref: SecretRef) -> _kv.KvSecret:
        mount, path, version = self._kv.locate(self._client, ref.location)
        return _kv.read(self._client, mount, path, version)

    def _token_is_valid(self) -> bool:
        try:
            self._client.auth.token.lookup_self()
        except hvac.exceptions.Forbidden:
            return False
        return True

    # --- login and renewal ---------------------------------------------------------

    def _locked_login(self) -> None:
        with self._lock:
            self._log_in()

    def _log_in(self) -> None:
        try:
            login = self.auth.login(self._client)
        except LookupError as exc:  # a credential (token file, secret_id, JWT) could not be read
            self._login = None
            raise SecretUnavailable(f"Vault login ({self.auth.description}) failed: {exc}") from None
        except VAULT_ERRORS as exc:
            self._login = None
            raise SecretUnavailable(
                f"Vault login ({self.auth.description}) failed: {describe(exc, self.address)}"
            ) from None
        self._set_login(login)
        self._full_ttl = login.ttl
        self.logins += 1
        ttl = f"TTL {login.ttl:.0f}s{'' if login.renewable else ', not renewable'}" if login.ttl else "no expiry"
        log.info("logged in to Vault at %s (%s; %s)", self.address, self.auth.description, ttl)

    def _set_login(self, login: Login) -> None:
        self._login = login
        self._expires_at = time.monotonic() + login.ttl

    def _renew_in(self) -> float:
        if self._login is None:
            return RETRY_LOGIN
        if not self._login.ttl:
            return IDLE
        remaining = self._expires_at - time.monotonic()
        return max(0.0, remaining - self._login.ttl * (1 - RENEW_AT))

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_in())
            try:
                await asyncio.to_thread(self._renew_or_log_in)
            except SecretUnavailable as exc:
                log.warning("Vault token could not be renewed or replaced: %s", exc)
                await asyncio.sleep(RETRY_LOGIN)
            except Exception:  # never let a bug end renewal for good
                log.exception("Vault token renewal failed unexpectedly")
                await asyncio.sleep(RETRY_LOGIN)

    def _renew_or_log_in(self) -> None:
        with self._lock:
            login = self._login
            if login is None:
                self._log_in()
                return
            if not login.ttl or self._expires_at - time.monotonic() > login.ttl * (1 - RENEW_AT):
                return  # not due (a login in between moved the deadline)
            if login.renewable:
                try:
                    response = self._client.auth.token.renew_self()
                except VAULT_ERRORS as exc:
                    log.info("Vault token renewal failed (%s); logging in again", describe(exc, self.address))
                else:
                    auth = response.get("auth") or {}
                    ttl = float(auth.get("lease_duration") or 0)
                    # A renewal capped by the token's max TTL comes back short: log in for a fresh one.
                    if ttl >= self._full_ttl / 2:
                        self._set_login(Login(ttl=ttl, renewable=bool(auth.get("renewable"))))
                        self.renewals += 1
                        log.debug("Vault token renewed (TTL %.0fs)", ttl)
                        return
                    log.info("Vault token is near its max TTL; logging in again")
            self._log_in()

    # --- credentials for login -------------------------------------------------------

    def _credential(self, value: str, what: str) -> Credential:
        """A login credential: a literal (role_id only) or an env:// / file:// reference read at each login."""
        if not value.startswith(("env://", "file://")):
            return lambda: value
        ref = parse_reference(value)
        source = self._local.get(ref.scheme)
        if source is None:
            raise ValueError(f"Vault {what}: no source for {ref.scheme}:// references")

        def read() -> str:
            try:
                return source.fetch(ref).value
            except SecretUnavailable as exc:
                raise LookupError(f"{what}: {exc}") from None

        return read


def _auth_method(settings: VaultSettings, credential: _CredentialFactory) -> AuthMethod:
    method = settings.auth_method or "token"
    if method not in AUTH_METHODS:
        raise ValueError(f"Vault auth method {method!r} is not one of {', '.join(AUTH_METHODS)}")
    mount = settings.auth_mount or method
    if method == "token":
        return TokenAuth(settings.token, settings.token_file)
    if method == "approle":
        if not settings.role_id:
            raise ValueError("Vault approle auth needs a role_id (a literal id or an env:// / file:// reference)")
        secret_id = _reference_only(settings.secret_id, "approle secret_id")
        return AppRoleAuth(
            credential(settings.role_id, "approle role_id"),
            credential(secret_id, "approle secret_id") if secret_id else None,
            mount,
        )
    if not settings.role:
        raise ValueError(f"Vault {method} auth needs a role")
    if method == "kubernetes":
        jwt = _reference_only(settings.jwt, "kubernetes jwt") or f"file://{KUBERNETES_TOKEN_PATH}"
        return KubernetesAuth(settings.role, credential(jwt, "kubernetes service account token"), mount)
    jwt_ref = _reference_only(settings.jwt, "jwt")
    if not jwt_ref:
        raise ValueError("Vault jwt auth needs jwt: an env:// or file:// reference to the token")
    return JwtAuth(settings.role, credential(jwt_ref, "jwt"), mount)


def _reference_only(value: str | None, what: str) -> str | None:
    if value is not None and not value.startswith(("env://", "file://")):
        raise ValueError(f"Vault {what} must be an env:// or file:// reference, not a literal value")
    return value
