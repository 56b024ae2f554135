"""What every Vault auth method returns: how long the token it obtained lives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import hvac

# Reads a credential (role_id, secret_id, a JWT) fresh at each login, since files rotate.
Credential = Callable[[], str]


@dataclass(frozen=True)
class Login:
    ttl: float  # seconds the token lives from now; 0 = it does not expire
    renewable: bool


class AuthMethod(Protocol):
    description: str  # for messages, e.g. "approle at auth/approle"
    can_log_in_again: bool

    def login(self, client: hvac.Client) -> Login: ...


def login_from_response(response: Mapping[str, Any]) -> Login:
    auth = response.get("auth") or {}
    return Login(ttl=float(auth.get("lease_duration") or 0), renewable=bool(auth.get("renewable")))
