"""Bounded decoding of HTTP bodies that come from outside: upstream responses, spec fetches,
token endpoints and Vault answers all read the raw (undecoded) stream and feed it to one
``BodyDecoder``, which undoes the ``Content-Encoding`` with a limit on the decoded size.

The limit is enforced inside the decoder: every zlib call is given the most it may return
(``decompress(data, max_length)``, the rest of the input kept in ``unconsumed_tail``), so no
chunk, however well compressed, expands past what is left of the budget, and peak memory
depends on the limit, never on the compression ratio. For a stack (``gzip, gzip``) the
intermediate layers are bounded the same way: each hands on at most ``PIECE`` bytes at a time
and takes in at most ``max_input`` bytes in all (``2 * limit + 64 KiB``: more compressed data
than that cannot be an honest encoding of a body within the limit), so CPU is bounded too.

- Decoded: ``identity``, ``gzip`` / ``x-gzip`` (members in sequence, as RFC 1952 allows), and
  ``deflate``, zlib-wrapped (RFC 9110) or raw (as browsers accept). At most ``MAX_CODINGS``
  stacked; more is refused.
- Any other coding in the list (``br``, ``zstd``, ...): the body is passed on as received,
  undecoded, and counted against the limit like an identity body. Nothing we do not decode is
  advertised (``ACCEPT_ENCODING``), so only a server that ignores ``Accept-Encoding`` sends one.
- A compressed stream that ends is finished: bytes after it (after the last gzip member) are
  ignored and ``finished`` tells the reader to stop reading. A stream cut short is an error.
- An empty body is empty whatever its ``Content-Encoding`` says (HEAD, 204, 304 answers).

Exceptions::

    BodyDecodingError
     ├── BodyTooLarge       decoded body over the limit (or more compressed input than it allows)
     ├── TooManyCodings     more than MAX_CODINGS content codings stacked
     └── CorruptBody        invalid or truncated compressed data

Messages name the coding and the limit, never the body's bytes or the header's own text.
This module does no I/O: callers bring the chunks (httpx ``aiter_raw``, urllib3 ``stream``).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Iterable

__all__ = [
    "ACCEPT_ENCODING",
    "DECODED_CODINGS",
    "MAX_CODINGS",
    "BodyDecoder",
    "BodyDecodingError",
    "BodyTooLarge",
    "CorruptBody",
    "TooManyCodings",
    "aread_body",
    "declared_length",
    "read_body",
]

ACCEPT_ENCODING = "gzip, deflate"  # what we advertise: exactly what we decode
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
MAX_CODINGS = 2  # "gzip, gzip" is the most an honest server stacks
PIECE = 64 * 1024  # the most an intermediate layer hands on at once
COMPRESSED_SLACK = 64 * 1024  # headers, trailers and flush blocks beyond 2x the limit
_GZIP_MAGIC = b"\x1f\x8b"


class BodyDecodingError(Exception):
    """The body could not be decoded within its bounds."""


class BodyTooLarge(BodyDecodingError):
    def __init__(self, limit: int, what: str = "decoded body") -> None:
        super().__init__(f"the {what} is over the {limit}-byte limit")
        self.limit = limit


class TooManyCodings(BodyDecodingError):
    def __init__(self, count: int) -> None:
        super().__init__(f"Content-Encoding stacks {count} codings; at most {MAX_CODINGS} are decoded")
        self.count = count


class CorruptBody(BodyDecodingError):
    pass


class BodyDecoder:
    """Incremental: ``feed`` each raw chunk, then ``flush`` once at the end of the body; both return
    decoded bytes, and together never more than ``limit``. Stop feeding once ``finished``."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        """``content_encoding``: the header's value (several header lines joined with commas)."""
        codings = _codings(content_encoding)
        if not DECODED_CODINGS.issuperset(codings):
            codings = []  # something we do not decode: pass the body on as it came
        elif len(codings) > MAX_CODINGS:
            raise TooManyCodings(len(codings))
        self.limit = limit
        self.size = 0  # decoded bytes handed out so far
        # The largest raw body that can decode within the limit; a declared Content-Length
        # over it can be refused before reading.
        self.max_input = 2 * limit + COMPRESSED_SLACK if codings else limit
        # Decoding order: the coding applied last comes off first.
        self._layers = [_Inflater(coding, self.max_input) for coding in reversed(codings)]

    @property
    def finished(self) -> bool:
        """The compressed stream has ended: more raw input would be ignored."""
        return any(layer.finished for layer in self._layers)

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of one more raw chunk (often empty)."""
        if not self._layers:
            self._count(len(data))
            return data
        out: list[bytes] = []
        self.feed_into(data, out)
        return b"".join(out)

    def feed_into(self, data: bytes, out: list[bytes]) -> None:
        """``feed``, appending the decoded pieces to ``out``: a reader collecting the body joins
        them once at the end (a refused body is never joined: it costs at most the limit)."""
        if not self._layers:
            self._count(len(data))
            out.append(data)
        elif data and not self.finished:
            self._layers[0].put(data)
            self._drain(out)

    def flush(self) -> bytes:
        """What is left, after checking that no compressed stream was cut short."""
        out: list[bytes] = []
        self.flush_into(out)
        return b"".join(out)

    def flush_into(self, out: list[bytes]) -> None:
        if not self._layers:
            return
        self._drain(out)
        for layer in reversed(self._layers):  # innermost first; layers outside a finished one were cut off on purpose
            if layer.finished:
                break
            layer.check_complete()

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            raise BodyTooLarge(self.limit)

    def _drain(self, out: list[bytes]) -> None:
        innermost = len(self._layers) - 1
        while True:
            # One byte more than the budget allows is enough to know it is exceeded.
            piece = self._pull(innermost, min(PIECE, self.limit - self.size + 1))
            if not piece:
                return
            self._count(len(piece))
            out.append(piece)

    def _pull(self, index: int, most: int) -> bytes:
        """Up to ``most`` decoded bytes from layer ``index``, feeding it from the layer outside it."""
        layer = self._layers[index]
        while True:
            out = layer.take(most)
            if out or layer.finished or index == 0:
                return out
            more = self._pull(index - 1, PIECE)
            if not more:
                return b""
            layer.put(more)


class _Inflater:
    """One zlib-based coding, decoded at most ``most`` bytes per ``take``; ``put`` counts its input."""

    def __init__(self, coding: str, max_input: int) -> None:
        self.coding = coding
        self._gzip = coding != "deflate"
        self._max_input = max_input
        self._received = 0
        self._input = b""  # received, not yet decoded
        self._stream: zlib._Decompress | None = None  # None before the first stream and between gzip members
        self._full = False  # the last take filled its buffer: zlib may hold more output
        self._started = False
        self.finished = False

    def put(self, data: bytes) -> None:
        if self.finished:
            return
        self._received += len(data)
        if self._received > self._max_input:
            raise BodyTooLarge(self._max_input, f"{self.coding}-compressed data")
        self._input = self._input + data if self._input else data

    def take(self, most: int) -> bytes:
        while not self.finished:
            if self._stream is None and not self._begin():
                return b""  # needs more input (or the stream just finished)
            stream = self._stream
            assert stream is not None
            if not self._input and not self._full:
                return b""
            data, self._input = self._input, b""
            try:
                out = stream.decompress(data, most)
            except zlib.error:
                raise CorruptBody(f"the {self.coding} data is corrupt") from None
            if not stream.eof:
                self._input = stream.unconsumed_tail
                self._full = len(out) == most
                return out
            # End of this stream: every byte of its output is in ``out``.
            self._stream, self._input, self._full = None, stream.unused_data, False
            if not self._gzip:
                self._end()  # deflate is one stream; what follows is ignored
            if out:
                return out
        return b""

    def _begin(self) -> bool:
        """Open the next stream on the buffered input; False when that has to wait for more input."""
        data = self._input
        if self._gzip and self._started:  # after a member: another member, or trailing bytes to ignore
            if len(data) < 2:
                if data and data != _GZIP_MAGIC[:1]:
                    self._end()
                return False
            if not data.startswith(_GZIP_MAGIC):
                self._end()
                return False
        if not data or (not self._gzip and len(data) < 2):
            return False
        self._stream = zlib.decompressobj(_window_bits(self._gzip, data))
        self._started = True
        return True

    def _end(self) -> None:
        self.finished = True
        self._input = b""

    def check_complete(self) -> None:
        if self._stream is not None or (self._input and not self._started):
            raise CorruptBody(f"the {self.coding} data ends early (truncated)")


def _window_bits(gzip: bool, start: bytes) -> int:
    if gzip:
        return 16 + zlib.MAX_WBITS
    # deflate: zlib-wrapped (an RFC 1950 header: CM 8, a window size, FCHECK) or raw. Real encoders
    # never start raw deflate with such a header (it would be a stored block with padding bits set).
    zlib_wrapped = start[0] & 0x0F == 8 and start[0] >> 4 <= 7 and (start[0] << 8 | start[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS


def _codings(header: str) -> list[str]:
    """Codings in the order they were applied; ``identity`` is no coding at all."""
    if not header:
        return []
    codings = (c.strip().lower() for c in header.split(","))
    return [c for c in codings if c and c != "identity"]


def declared_length(content_length: str) -> int | None:
    """A Content-Length header's value, or None when it is not a plain number. ASCII digits only
    (``"²".isdigit()`` is true) and at most 20 of them, so ``int()`` never refuses or works hard."""
    if content_length.isascii() and content_length.isdigit() and len(content_length) <= 20:
        return int(content_length)
    return None


def read_body(chunks: Iterable[bytes], decoder: BodyDecoder) -> bytes:
    """The decoded body from raw ``chunks``; stops reading once the compressed stream has ended."""
    out: list[bytes] = []
    for chunk in chunks:
        decoder.feed_into(chunk, out)
        if decoder.finished:
            break
    decoder.flush_into(out)
    return b"".join(out)


async def aread_body(chunks: AsyncIterable[bytes], decoder: BodyDecoder) -> bytes:
    """``read_body`` for an async stream (httpx ``aiter_raw``)."""
    out: list[bytes] = []
    async for chunk in chunks:
        decoder.feed_into(chunk, out)
        if decoder.finished:
            break
    decoder.flush_into(out)
    return b"".join(out)
