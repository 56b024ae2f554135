"""The per-API authentication settings, one frozen dataclass per auth type.

A credential field holds either a secret reference as written in the file
(``vault://kv/crm#key``, ``env://CRM_KEY``, ``file:///run/secrets/crm``, maybe
with ``{environment}``) or, only where the field allows it, a literal that does
not look like a secret (a username, a client id, a tenant header). The loader
guarantees which; ``custom_api_sidecar.auth`` resolves references through the secret store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

REFERENCE_SCHEMES = ("vault://", "env://", "file://")


def is_reference_text(value: str) -> bool:
    return value.startswith(REFERENCE_SCHEMES)


@dataclass(frozen=True)
class NoAuth:
    type: ClassVar[str] = "none"

    def credential_texts(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class ApiKeyAuth:
    """``api_key``: the key in a header (``header_name``, optional ``prefix``) or in the query (``param_name``)."""

    type: ClassVar[str] = "api_key"
    key: str  # always a reference
    header_name: str | None = None
    param_name: str | None = None
    prefix: str = ""

    def credential_texts(self) -> tuple[str, ...]:
        return (self.key,)


@dataclass(frozen=True)
class BearerTokenAuth:
    """``bearer_token``: ``Authorization: Bearer <token>``."""

    type: ClassVar[str] = "bearer_token"
    token: str  # always a reference

    def credential_texts(self) -> tuple[str, ...]:
        return (self.token,)


@dataclass(frozen=True)
class BasicAuth:
    """``basic_auth``: ``Authorization: Basic base64(username:password)``."""

    type: ClassVar[str] = "basic_auth"
    username: str  # a reference or a literal
    password: str  # always a reference

    def credential_texts(self) -> tuple[str, ...]:
        return (self.username, self.password)


@dataclass(frozen=True)
class OAuth2Auth:
    """``oauth2``: the client-credentials grant; the token is sent as ``<auth_header_name>: <token_prefix> <token>``."""

    type: ClassVar[str] = "oauth2"
    token_url: str
    client_id: str  # a reference or a literal
    client_secret: str  # always a reference
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    extra_params: tuple[tuple[str, str], ...] = ()
    client_auth: str = "header"  # header: client_secret_basic; body: client_secret_post
    auth_header_name: str = "Authorization"
    token_prefix: str = "Bearer"
    timeout_ms: int = 10_000

    def credential_texts(self) -> tuple[str, ...]:
        return (self.client_id, self.client_secret)


@dataclass(frozen=True)
class CustomHeader:
    name: str
    value: str  # a reference or a literal
    prefix: str = ""  # sent before the value, e.g. "Bearer " (never secret)


@dataclass(frozen=True)
class CustomHeaderAuth:
    """``custom_header``: several headers, each value a reference or a non-secret literal."""

    type: ClassVar[str] = "custom_header"
    headers: tuple[CustomHeader, ...] = field(default_factory=tuple)

    def credential_texts(self) -> tuple[str, ...]:
        return tuple(h.value for h in self.headers)


Authentication = NoAuth | ApiKeyAuth | BearerTokenAuth | BasicAuth | OAuth2Auth | CustomHeaderAuth


def references(auth: Authentication) -> tuple[str, ...]:
    """The secret references an auth setting needs, as written (``{environment}`` not yet substituted)."""
    return tuple(text for text in auth.credential_texts() if is_reference_text(text))
