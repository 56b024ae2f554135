"""One cached answer, and its form at rest in the fleet's shared store.

At rest it is ``expires_at`` (wall clock, milliseconds, 8 bytes big-endian) followed by the
serialized ``InvokeResponse`` the sidecar would have returned; the shared store seals it, and
a value that does not open, or does not parse, is never served."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from custom_api_client.proto.sidecar_pb2 import InvokeResponse

_EXPIRES = struct.Struct(">Q")


class Malformed(Exception):
    """A value from the shared store that opened but is not a cached answer."""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    status_code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str  # redacted, as returned the first time
    http_version: str
    expires_at: float  # wall clock (epoch seconds)

    def size(self) -> int:
        """Bytes it holds (body, headers, reason and URL), counted honestly for the byte budget."""
        return (
            len(self.body)
            + sum(len(k) + len(v) for k, v in self.headers)
            + len(self.reason)
            + len(self.url)
            + len(self.http_version)
        )

    def to_bytes(self) -> bytes:
        message = InvokeResponse(
            status_code=self.status_code,
            reason=self.reason,
            body=self.body,
            url=self.url,
            http_version=self.http_version,
        )
        for key, value in self.headers:
            message.headers.add(key=key, value=value)
        return _EXPIRES.pack(int(self.expires_at * 1000)) + message.SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedAnswer:
        """Malformed for anything that is not what ``to_bytes`` wrote (the caller bounds the size)."""
        if len(data) < _EXPIRES.size:
            raise Malformed("too short")
        (expires_ms,) = _EXPIRES.unpack_from(data)
        message = InvokeResponse()
        try:
            message.ParseFromString(data[_EXPIRES.size :])
        except DecodeError:
            raise Malformed("not a serialized answer") from None
        if not 100 <= message.status_code <= 599:
            raise Malformed("no HTTP status")
        return cls(
            status_code=message.status_code,
            reason=message.reason,
            headers=tuple((h.key, h.value) for h in message.headers),
            body=message.body,
            url=message.url,
            http_version=message.http_version,
            expires_at=expires_ms / 1000,
        )
