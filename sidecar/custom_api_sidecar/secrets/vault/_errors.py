"""hvac and requests exceptions -> one short reason, from a table (as hvac maps statuses).

Reasons name the status and Vault's own error strings (which describe the request,
never secret data); a transport error names the address, not the request.
"""

from __future__ import annotations

import hvac.exceptions
import requests

from ._bounded import MAX_ANSWER_BYTES, AnswerTooLarge

_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (hvac.exceptions.InvalidPath, "not found (404)"),
    (hvac.exceptions.Forbidden, "permission denied (403)"),
    (hvac.exceptions.Unauthorized, "unauthorized (401)"),
    (hvac.exceptions.InvalidRequest, "invalid request (400)"),
    (hvac.exceptions.RateLimitExceeded, "rate limited by Vault (429)"),
    (hvac.exceptions.VaultDown, "Vault is sealed or in standby (503)"),
    (hvac.exceptions.VaultNotInitialized, "Vault is not initialized (501)"),
    (hvac.exceptions.InternalServerError, "Vault server error (500)"),
    (hvac.exceptions.BadGateway, "bad gateway in front of Vault (502)"),
    (hvac.exceptions.PreconditionFailed, "precondition failed (412)"),
    (AnswerTooLarge, f"Vault's answer is over the {MAX_ANSWER_BYTES}-byte limit"),
    (requests.exceptions.ContentDecodingError, "Vault's answer could not be decoded"),
    (requests.exceptions.SSLError, "TLS error talking to Vault"),
    (requests.exceptions.Timeout, "Vault did not answer in time"),
    (requests.exceptions.ConnectionError, "cannot connect to Vault"),
)


def describe(exc: BaseException, address: str = "") -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            if isinstance(exc, hvac.exceptions.VaultError) and exc.errors:
                errors = exc.errors if isinstance(exc.errors, list) else [exc.errors]
                details = "; ".join(str(e) for e in errors)[:300]
                return f"{reason}: {details}" if details and details not in reason else reason
            if isinstance(exc, requests.exceptions.RequestException) and address:
                return f"{reason} at {address}"
            return reason
    return f"unexpected {type(exc).__name__} from Vault"


VAULT_ERRORS = (hvac.exceptions.VaultError, requests.exceptions.RequestException)
