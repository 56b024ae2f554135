"""What a cached answer is filed under.

A key is HMAC-SHA256, under a key only the sidecar (or, for the shared cache, the fleet) holds,
of every part that can change the answer, each length-prefixed so no two requests encode alike:

- the environment, the API, a digest of the API's definition (a reload that changes the
  definition makes the old entries unreachable, in Redis too), and the operation;
- the bound request: method, URL with its query as sent, every header the caller sent
  (names lower-cased, sorted by name) but the API's idempotency key header (it names an
  attempt, not a question: every background job carries a fresh one), and the body;
- the credentials the sidecar injects (headers and query parameters, as sent): different keys,
  tokens or tenants never share an entry; their values go into the HMAC, never into storage;
- the scope, and with ``scope: conversation`` the conversation id.

Keyed, not a plain hash: a key name seen in Redis says nothing about which phone number or
account was looked up, and cannot be confirmed by guessing."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..auth import Credentials
    from ..config import ApiConfig
    from ..pipeline import OutboundRequest

_LENGTH = struct.Struct(">I")
VERSION = b"custom-api-sidecar cache v1"


def definition_digest(api: ApiConfig) -> str:
    """The same for the same definition in every sidecar of a fleet (the config is the same file)."""
    return hashlib.sha256(repr(api).encode()).hexdigest()[:16]


def cached_api_digests(apis: Iterable[ApiConfig]) -> dict[str, str]:
    """``definition_digest`` of each API with a cached operation (a big imported spec without one
    costs nothing at load)."""
    return {api.name: definition_digest(api) for api in apis if any(e.cache is not None for e in api.endpoints)}


@dataclass(frozen=True, slots=True)
class CacheKey:
    api: str
    digest: str  # the API definition's
    hex: str  # the HMAC

    def __str__(self) -> str:
        return self.hex


class KeyMaker:
    def __init__(self, secret: Callable[[], bytes] | None = None) -> None:
        """``secret``: the fleet's (derived from ``redis.cache_key``, read on first use) so every
        sidecar files an answer under the same key; default: random, this process only."""
        self._source = secret
        self._secret = b"" if secret is not None else os.urandom(32)

    def key(
        self,
        environment: str,
        api: str,
        digest: str,
        operation: str,
        request: OutboundRequest,
        credentials: Credentials | None,
        conversation_id: str | None,
        ignored_headers: frozenset[str] = frozenset(),
    ) -> CacheKey:
        """``ignored_headers`` (lower-case) are left out of the key: the idempotency key header."""
        if not self._secret and self._source is not None:
            self._secret = self._source()
        mac = hmac.new(self._secret, VERSION, hashlib.sha256)
        parts: list[bytes] = [
            environment.encode(),
            api.encode(),
            digest.encode(),
            operation.encode(),
            request.method.encode(),
            request.url().encode("utf-8", "surrogatepass"),
        ]
        headers = sorted(
            ((k.lower(), v) for k, v in request.headers if k.lower() not in ignored_headers), key=lambda item: item[0]
        )
        parts.append(_LENGTH.pack(len(headers)))
        for name, value in headers:
            parts += (name.encode("latin-1", "replace"), value.encode("utf-8", "surrogatepass"))
        parts.append(b"\x01" + request.content if request.content is not None else b"\x00")
        sent = (*credentials.headers, *credentials.query) if credentials is not None else ()
        parts.append(_LENGTH.pack(len(sent)))
        for name, value in sent:
            parts += (name.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass"))
        parts.append(b"conversation:" + conversation_id.encode() if conversation_id is not None else b"api")
        for part in parts:
            mac.update(_LENGTH.pack(len(part)))
            mac.update(part)
        return CacheKey(api, digest, mac.hexdigest())
