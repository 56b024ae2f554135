"""What bounded decoding costs per call (not a test): ``python -m bench.decode_overhead [--calls N]``.

The send stage's body read, before and after ``body_decoding``, on in-memory httpx responses (no
network, so the difference is the reading and decoding itself), interleaved in blocks in one run:

- ``before``: httpx's ``aiter_bytes`` (httpx decodes, the limit counts what comes out), the code
  the send stage had;
- ``after``: ``httpx_body.read_decoded``: the raw stream through ``BodyDecoder``.

Bodies: a typical 1 KB JSON answer (identity), a 100 KB JSON answer gzip-compressed (as an
upstream sends it), and 5 MiB of identity bytes; delivered in the transport's 64 KiB chunks.
Both paths must return the same bytes. Then one 200 MiB double-gzip bomb refused at a 1 MiB
limit by each: time and the peak of Python's allocations (tracemalloc) during the read
(``--no-bomb`` skips it: ~2 s and ~450 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from custom_api_sidecar.body_decoding import BodyTooLarge
from custom_api_sidecar.httpx_body import read_decoded

LIMIT = 10 * 1024 * 1024  # the default max_response_bytes
CHUNK = 64 * 1024  # what the aiohttp transport hands on at once


class TooLarge(Exception):
    pass


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def response(body: bytes, encoding: str | None) -> httpx.Response:
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    if encoding:
        headers.append(("content-encoding", encoding))
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    return httpx.Response(200, headers=headers, stream=_Stream(chunks))


async def before(response: httpx.Response, limit: int) -> bytes:
    """The send stage's read before body_decoding (pipeline/send.py at 07690e2)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def after(response: httpx.Response, limit: int) -> bytes:
    return await read_decoded(response, limit)


Reader = Callable[[httpx.Response, int], Awaitable[bytes]]


async def per_call_us(read: Reader, body: bytes, encoding: str | None, calls: int) -> float:
    calls = max(20, calls // max(1, len(body) // CHUNK))  # fewer calls for bodies of many chunks
    started = time.perf_counter()
    for _ in range(calls):
        await read(response(body, encoding), LIMIT)
    return (time.perf_counter() - started) / calls * 1e6


def json_body(size: int) -> bytes:
    items, out = [], b""
    while len(out) < size:
        items.append({"id": len(items), "name": f"customer {len(items)}", "email": f"c{len(items)}@example.com"})
        out = json.dumps({"items": items}).encode()
    return out


def double_gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    inner = b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()
    return gzip.compress(inner, 9)


async def bomb(read: Reader, data: bytes) -> tuple[float, float]:
    """(ms, peak MiB of Python allocations) to refuse ``data`` at 1 MiB."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        await read(response(data, "gzip, gzip"), 1024 * 1024)
    except (TooLarge, BodyTooLarge):
        pass
    else:
        raise AssertionError("the bomb was not refused")
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return took * 1000, peak / 2**20


async def main(calls: int, blocks: int, with_bomb: bool) -> None:
    cases = {
        "1 KB JSON, identity": (json_body(1024), None),
        "100 KB JSON, gzip": (gzip.compress(json_body(100 * 1024), 6), "gzip"),
        "5 MiB binary, identity": (bytes(range(256)) * (5 * 4096), None),
    }
    for name, (body, encoding) in cases.items():
        assert await before(response(body, encoding), LIMIT) == await after(response(body, encoding), LIMIT)
        wire = f"{len(body) / 1024:.1f} KB on the wire"
        samples: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(blocks):  # interleaved, so drift on a shared machine hits both alike
            for label, read in (("before", before), ("after", after)):
                samples[label].append(await per_call_us(read, body, encoding, calls))
        b, a = statistics.median(samples["before"]), statistics.median(samples["after"])
        print(f"{name} ({wire}): before {b:7.1f} µs/call   after {a:7.1f} µs/call   ({a - b:+.1f} µs, x{a / b:.2f})")
    if with_bomb:
        data = double_gzip_bomb(200 * 1024 * 1024)
        for label, read in (("before", before), ("after", after)):
            ms, mib = await bomb(read, data)
            print(
                f"200 MiB double-gzip bomb ({len(data)} bytes) at a 1 MiB limit, {label}: {ms:7.1f} ms, "
                f"peak Python allocations {mib:6.1f} MiB"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per block (default 2000)")
    parser.add_argument("--blocks", type=int, default=7, help="interleaved blocks per path (default 7)")
    parser.add_argument("--no-bomb", action="store_true", help="skip the bomb comparison")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.blocks, not args.no_bomb))
