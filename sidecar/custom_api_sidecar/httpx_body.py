"""An httpx response's body, read raw and decoded with a bound (``body_decoding``).

Used by the upstream call and the OAuth2 token fetch; raises ``body_decoding``'s errors, which
each caller maps to its own (``RESPONSE_TOO_LARGE``, a token endpoint failure).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .body_decoding import BodyDecoder, BodyTooLarge, aread_body, declared_length


async def read_decoded(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` decoded bytes; ``BodyTooLarge`` as soon as it is clear there are more,
    before reading anything when Content-Length already says so."""
    decoder = BodyDecoder(response.headers.get("content-encoding", ""), limit)
    declared = declared_length(response.headers.get("content-length", ""))
    if declared is not None and declared > decoder.max_input:
        raise BodyTooLarge(limit)
    return await aread_body(_raw(response), decoder)


def _raw(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed and isinstance(response.stream, httpx.AsyncByteStream):
        # A response built in memory (httpx.MockTransport) was read when it was made, decoded and
        # unbounded; its stream still holds the raw bytes and can be read again.
        return _replay(response.stream)
    return response.aiter_raw()


async def _replay(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk
