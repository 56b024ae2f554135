"""Sealing what the fleet keeps in Redis, which it does not trust: AES-256-GCM under a key from a
secret reference (``redis.token_key``, ``redis.job_key``), a random 96-bit nonce per value, and
associated data the caller chooses (the Redis key, and the field) so that a sealed value opens
only where it was written. On Redis: ``nonce (12 bytes) || ciphertext || tag (16 bytes)``.

A random nonce bounds one key to about 2**32 sealed values (NIST SP 800-38D) before the chance
of a repeated nonce passes 2**-32: rotate a key well before that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..auth._parts import Part
from ..errors import StartupError

NONCE_BYTES = 12
KEY_BYTES = 32
GENERATE_HINT = "generate one with: openssl rand -base64 32"


class SealKeyError(StartupError):
    """A ``redis.*_key`` does not hold a usable key (the message names the reference, never the key)."""


class Unopenable(Exception):
    """A sealed value did not open: another key, other associated data, or tampering."""


class Seal:
    """One key, decoded on first use (``check`` at start makes a bad key a startup error)."""

    def __init__(self, part: Part | None, field: str, unset: str, error: type[SealKeyError] = SealKeyError) -> None:
        """``field`` names the setting in errors; ``unset`` says what cannot work without it."""
        self._part = part
        self._field = field
        self._unset = unset
        self._error = error
        self._cipher: AESGCM | None = None
        self._key = b""

    def check(self) -> None:
        self._aead()

    def _aead(self) -> AESGCM:
        if self._cipher is None:
            if self._part is None:
                raise self._error(f"{self._field} is not set: {self._unset}")
            try:
                key = base64.b64decode(self._part.value().strip(), validate=True)
            except (binascii.Error, ValueError):
                raise self._error(f"{self._field} ({self._part.ref}) is not base64; {GENERATE_HINT}") from None
            if len(key) != KEY_BYTES:
                raise self._error(
                    f"{self._field} ({self._part.ref}) must decode to 32 bytes (AES-256), not {len(key)}; "
                    f"{GENERATE_HINT}"
                )
            self._cipher, self._key = AESGCM(key), key
        return self._cipher

    def derive(self, label: bytes) -> bytes:
        """A key for another use of the same secret (HMAC-SHA256 of ``label``): never the key itself."""
        self._aead()
        return hmac.new(self._key, label, hashlib.sha256).digest()

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead().encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        """The plaintext, or Unopenable."""
        if len(sealed) < NONCE_BYTES + 16:
            raise Unopenable("too short to be sealed")
        try:
            return self._aead().decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except InvalidTag:
            raise Unopenable("does not open with this key and associated data") from None
