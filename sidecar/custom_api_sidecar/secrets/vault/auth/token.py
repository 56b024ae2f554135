"""Token auth: a token given directly (VAULT_TOKEN), in a file (e.g. a Vault Agent sink),
or in ``~/.vault-token``. "Logging in again" re-reads the file, which an agent rotates."""

from __future__ import annotations

import pathlib

import hvac

from .._errors import VAULT_ERRORS
from ._login import Login


class TokenAuth:
    can_log_in_again = True

    def __init__(self, token: str | None = None, token_file: str | None = None, home: pathlib.Path | None = None):
        self._token = token
        self._file = pathlib.Path(token_file) if token_file else None
        self._home_file = (home or pathlib.Path.home()) / ".vault-token"
        if self._file is not None:
            self.description = f"token from {self._file}"
        elif token:
            self.description = "token from VAULT_TOKEN"
        else:
            self.description = f"token from {self._home_file}"

    def login(self, client: hvac.Client) -> Login:
        client.token = self._read()
        try:
            data = client.auth.token.lookup_self()["data"]
        except VAULT_ERRORS:
            client.token = None
            raise
        return Login(ttl=float(data.get("ttl") or 0), renewable=bool(data.get("renewable")))

    def _read(self) -> str:
        if self._file is None and self._token:
            return self._token
        path = self._file or self._home_file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise LookupError(f"cannot read the Vault token file {path}: {exc.strerror}") from None
        if not token:
            raise LookupError(f"the Vault token file {path} is empty")
        return token
