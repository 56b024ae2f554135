"""Credential injection, one module per auth type (seed 004 / seed 000).

``build_authenticators`` turns each API's ``authentication`` setting into an
``Authenticator`` whose secret parts are references read from the secret store;
``Authentications`` is the service that starts and stops them (OAuth2 warms and
refreshes its tokens); the ``Authenticate`` pipeline stage injects what they
give. A credential value never leaves the sidecar except to the upstream.
"""

from typing import TYPE_CHECKING, Any

from ._build import build_authenticator, build_authenticators
from ._credentials import Authenticator, Credentials
from ._service import Authentications

if TYPE_CHECKING:
    from .oauth2 import ClientCredentials, TokenEndpointError


def __getattr__(name: str) -> Any:
    # authlib costs ~11 MB of RSS: load it only when an API uses OAuth2.
    if name in ("ClientCredentials", "TokenEndpointError"):
        from . import oauth2

        return getattr(oauth2, name)
    raise AttributeError(name)


__all__ = [
    "Authentications",
    "Authenticator",
    "ClientCredentials",
    "Credentials",
    "TokenEndpointError",
    "build_authenticator",
    "build_authenticators",
]
