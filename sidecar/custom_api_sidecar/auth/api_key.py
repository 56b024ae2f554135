"""``api_key``: the key in a header (``header_name``, optional ``prefix``) or a query parameter (``param_name``)."""

from __future__ import annotations

from ..config import ApiKeyAuth
from ._credentials import Credentials
from ._parts import Part
from ._static import StaticAuthenticator


class ApiKey(StaticAuthenticator):
    type = "api_key"

    def __init__(self, settings: ApiKeyAuth, key: Part) -> None:
        self._key = key
        self._header = settings.header_name
        self._param = settings.param_name
        self._prefix = settings.prefix
        if self._header is not None:
            self.header_names = frozenset({self._header.lower()})
        if self._param is not None:
            self.query_names = frozenset({self._param})

    def current(self) -> Credentials:
        key = self._key.value()
        if self._param is not None:
            return Credentials(query=((self._param, key),), secrets=(key,))
        assert self._header is not None
        sent = self._prefix + key
        return Credentials(headers=((self._header, sent),), secrets=(key, sent))
