"""Turn each API's ``authentication`` setting into an authenticator, registering its references."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
from opentelemetry import trace

from ..config import (
    ApiConfig,
    ApiKeyAuth,
    BasicAuth,
    BearerTokenAuth,
    CustomHeaderAuth,
    NoAuth,
    OAuth2Auth,
)
from ..propagation import upstream_propagation
from ..secrets import SecretStore
from ._credentials import Authenticator
from ._parts import Part
from .api_key import ApiKey
from .basic import BasicAuth as BasicAuthenticator
from .bearer import BearerToken
from .custom_header import CustomHeaders

TokenTransport = Callable[[str], httpx.AsyncBaseTransport]


def build_authenticator(
    api: ApiConfig,
    environment: str,
    store: SecretStore,
    tracer: trace.Tracer,
    token_transport: TokenTransport | None = None,
) -> Authenticator | None:
    """None for ``type: none``. Every reference is registered with ``store`` (``{environment}``
    substituted), so the store reads it before the first call."""

    def part(text: str) -> Part:
        return Part(text, store, environment)

    auth = api.authentication
    if isinstance(auth, NoAuth):
        return None
    if isinstance(auth, ApiKeyAuth):
        return ApiKey(auth, part(auth.key))
    if isinstance(auth, BearerTokenAuth):
        return BearerToken(part(auth.token))
    if isinstance(auth, BasicAuth):
        return BasicAuthenticator(part(auth.username), part(auth.password))
    if isinstance(auth, OAuth2Auth):
        from .oauth2 import ClientCredentials  # authlib loads only when an API uses OAuth2

        transport = token_transport(api.name) if token_transport else None
        return ClientCredentials(
            api.name,
            auth,
            part(auth.client_id),
            part(auth.client_secret),
            tracer,
            transport=transport,
            propagation=upstream_propagation(api.propagate),
        )
    if isinstance(auth, CustomHeaderAuth):
        return CustomHeaders([(header.name, header.prefix, part(header.value)) for header in auth.headers])
    raise AssertionError(f"unhandled authentication type {type(auth).__name__}")


def build_authenticators(
    apis: Mapping[str, ApiConfig],
    environment: str,
    store: SecretStore,
    tracer: trace.Tracer,
    token_transport: TokenTransport | None = None,
) -> dict[str, Authenticator]:
    """``token_transport(api)``: how an OAuth2 API reaches its token endpoint (the egress-checked
    transport in the sidecar; httpx's own when None)."""
    built = {name: build_authenticator(api, environment, store, tracer, token_transport) for name, api in apis.items()}
    return {name: auth for name, auth in built.items() if auth is not None}
