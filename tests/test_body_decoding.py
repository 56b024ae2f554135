"""body_decoding.BodyDecoder, the one bounded decoder of bodies from outside (pure logic):
property tests over arbitrary coding stacks, sizes around the limit and chunk splits, and the
worst inputs by name (bombs, stacked layers, headers that expand, garbage, truncation)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_api_sidecar.body_decoding import (
    COMPRESSED_SLACK,
    MAX_CODINGS,
    BodyDecoder,
    BodyDecodingError,
    BodyTooLarge,
    CorruptBody,
    TooManyCodings,
    declared_length,
    read_body,
)

MiB = 1024 * 1024


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {  # name in the strategy -> (Content-Encoding token, encoder)
    "identity": ("identity", lambda b: b),
    "gzip": ("gzip", lambda b: gzip.compress(b, 6)),
    "x-gzip": ("X-Gzip", lambda b: gzip.compress(b, 1)),
    "deflate": ("deflate", zlib.compress),
    "raw-deflate": ("deflate", raw_deflate),
}


def encode(body: bytes, stack: list[str]) -> tuple[str, bytes]:
    """Apply ``stack`` in order (first applied first); the Content-Encoding header lists them so."""
    for name in stack:
        body = ENCODERS[name][1](body)
    return ", ".join(ENCODERS[name][0] for name in stack), body


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]


def decode_all(header: str, data: bytes, limit: int, cuts: Sequence[int] = ()) -> bytes:
    return read_body(split(data, list(cuts)), BodyDecoder(header, limit))


bodies = st.one_of(
    st.binary(max_size=3000),  # incompressible
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=8), st.integers(0, 4000)),  # compressible
)
stacks = st.lists(st.sampled_from(sorted(ENCODERS)), max_size=3)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, stack=stacks, delta=st.integers(-64, 64), cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_the_original_when_it_fits_too_large_when_not_and_nothing_else(body, stack, delta, cuts) -> None:
    """Arbitrary stacks (0-3 layers of identity/gzip/deflate/raw deflate), a limit a little over or
    under the body's size, arbitrary chunk splits: exactly the body, or BodyTooLarge; a stack of
    more than MAX_CODINGS real codings is TooManyCodings. No other exception escapes."""
    header, data = encode(body, stack)
    limit = max(0, len(body) + delta)
    real = [name for name in stack if name != "identity"]
    if len(real) > MAX_CODINGS:
        with pytest.raises(TooManyCodings):
            BodyDecoder(header, limit)
        return
    if len(body) <= limit:
        assert decode_all(header, data, limit, cuts) == body
    else:
        with pytest.raises(BodyTooLarge):
            decode_all(header, data, limit, cuts)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=4000),
    stack=stacks,
    limit=st.integers(0, 5000),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_arbitrary_bytes_decode_within_the_limit_or_raise_a_decoding_error(data, stack, limit, cuts) -> None:
    """Hostile bytes under any Content-Encoding: at most ``limit`` bytes out, or one of the module's
    own errors; never zlib.error, IndexError or anything else."""
    header = ", ".join(ENCODERS[name][0] for name in stack)
    try:
        out = decode_all(header, data, limit, cuts)
    except BodyDecodingError:
        return
    assert len(out) <= limit


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=2000), stack=stacks, cut=st.integers(1, 10**6), chunk=st.integers(1, 64))
def test_a_cut_short_body_is_never_a_wrong_body(body, stack, cut, chunk) -> None:
    """Truncated anywhere: CorruptBody, or (when an inner stream is already complete) the exact body."""
    real = [name for name in stack if name != "identity"]
    if not real or len(real) > MAX_CODINGS:
        return
    header, data = encode(body, stack)
    data = data[: cut % len(data)]
    try:
        out = read_body((data[i : i + chunk] for i in range(0, len(data), chunk)), BodyDecoder(header, 10**6))
    except CorruptBody:
        return
    assert out in (body, b"")  # b"": nothing arrived at all (an empty body is empty, whatever its coding)
    assert out == body or not data


@settings(max_examples=200, deadline=None)
@given(body=bodies, stack=st.lists(st.sampled_from(["gzip", "deflate", "raw-deflate"]), min_size=1, max_size=2))
def test_bytes_after_the_end_of_the_stream_are_ignored(body, stack) -> None:
    header, data = encode(body, stack)
    decoder = BodyDecoder(header, len(body))
    out = decoder.feed(data + b"trailing garbage, never a gzip member" * 10)
    assert decoder.finished
    assert out + decoder.flush() == body
    assert decoder.feed(b"more") == b""  # a finished decoder takes no more input


# --- bombs, by name ------------------------------------------------------------------------------


def zeros_gzip(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    return b"".join(compressor.compress(block) for _ in range(size // MiB)) + compressor.flush()


@pytest.fixture(scope="module")
def bomb_200mib() -> bytes:
    return zeros_gzip(200 * MiB)


def allocated_while(action: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("outer", ["gzip", "deflate", "raw-deflate"])
def test_a_double_bomb_costs_memory_in_proportion_to_the_limit_not_to_the_ratio(bomb_200mib: bytes, outer: str) -> None:
    """200 MiB of zeros compressed twice (a few hundred bytes), refused at a 1 MiB limit after
    allocating about the limit, whichever the outer coding and however the bytes are split."""
    outer_encoder = ENCODERS[outer][1]
    data = outer_encoder(bomb_200mib)
    assert len(data) < 2000
    header = f"gzip, {ENCODERS[outer][0]}"

    def refuse(chunk: int) -> None:
        with pytest.raises(BodyTooLarge, match="over the 1048576-byte limit"):
            read_body((data[i : i + chunk] for i in range(0, len(data), chunk)), BodyDecoder(header, MiB))

    for chunk in (1, 7, 64 * 1024):
        assert allocated_while(lambda c=chunk: refuse(c)) < 3 * MiB


def test_one_chunk_never_expands_past_the_budget(bomb_200mib: bytes) -> None:
    decoder = BodyDecoder("gzip", 10 * MiB)
    out = decoder.feed(bomb_200mib[:1000])  # about 1 MiB of zeros inside
    assert 0 < len(out) <= 10 * MiB
    with pytest.raises(BodyTooLarge):
        decoder.feed(bomb_200mib[1000:20000])
    assert decoder.size <= 10 * MiB + 1


def test_an_inner_stream_that_ends_stops_the_outer_one() -> None:
    """gzip(gzip(body) + 50 MiB of zeros): once the inner member ends, the outer layer is not
    decoded further (its zeros would cost CPU for nothing) and reading stops."""
    body = b'{"ok": true}'
    data = gzip.compress(gzip.compress(body) + bytes(50 * MiB))
    chunks = [data[i : i + 16] for i in range(0, len(data), 16)]
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for chunk in chunks:
            read += 1
            yield chunk

    assert read_body(counted(), BodyDecoder("gzip, gzip", MiB)) == body
    assert read < 10 < len(chunks)


def test_an_intermediate_layer_is_bounded_even_when_it_yields_nothing() -> None:
    """gzip over a gzip header whose file name runs for 50 MiB: the inner layer consumes without
    output, so only the cap on each layer's input (2 x limit + 64 KiB) stops it."""
    inner = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff" + b"n" * (50 * MiB)  # FNAME, never terminated
    data = gzip.compress(inner, 9)
    with pytest.raises(BodyTooLarge, match=f"gzip-compressed data is over the {2 * 1024 + COMPRESSED_SLACK}"):
        decode_all("gzip, gzip", data, 1024)


def test_compressed_input_beyond_its_cap_is_too_large() -> None:
    """Empty gzip members without end: no output at all, so only the input cap stops them."""
    data = gzip.compress(b"") * 5000
    assert len(data) > 2 * 1000 + COMPRESSED_SLACK
    with pytest.raises(BodyTooLarge, match=f"over the {2 * 1000 + COMPRESSED_SLACK}-byte limit"):
        decode_all("gzip", data, 1000, range(0, len(data), 1000))


def test_max_input_is_what_a_declared_content_length_is_checked_against() -> None:
    assert BodyDecoder("", 100).max_input == 100
    assert BodyDecoder("br", 100).max_input == 100  # passed through: counted like identity
    assert BodyDecoder("gzip", 100).max_input == 200 + COMPRESSED_SLACK


# --- codings ------------------------------------------------------------------------------------------


def test_codings_are_case_insensitive_and_identity_is_no_coding() -> None:
    body = b"hello " * 100
    assert decode_all("X-GZIP", gzip.compress(body), 1000) == body
    assert decode_all(" gzip ,identity,, IDENTITY", gzip.compress(body), 1000) == body
    assert decode_all("identity, identity, identity, gzip", gzip.compress(body), 1000) == body


def test_gzip_members_in_sequence_are_all_decoded() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second ") + gzip.compress(b"third")
    assert decode_all("gzip", data, 100, [5, 30, 31, 32]) == b"first second third"


def test_a_coding_we_do_not_decode_passes_the_body_through_counted() -> None:
    for header in ("br", "zstd", "gzip, br", "compress", "x" * 10_000):
        assert decode_all(header, b"opaque bytes", 100) == b"opaque bytes"
        with pytest.raises(BodyTooLarge):
            decode_all(header, b"opaque bytes", 5)


def test_too_many_codings_names_the_count_not_the_header() -> None:
    with pytest.raises(TooManyCodings) as caught:
        BodyDecoder(", ".join(["gzip"] * 5000), 100)
    assert str(caught.value) == "Content-Encoding stacks 5000 codings; at most 2 are decoded"


def test_an_empty_body_is_empty_whatever_its_coding() -> None:
    for header in ("gzip", "deflate", "gzip, gzip", "br", ""):
        assert decode_all(header, b"", 0) == b""


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ("gzip", b"SECRET-ish body, not gzip", "the gzip data is corrupt"),
        ("deflate", b"\x78\x9c SECRET-ish body, not zlib", "the deflate data is corrupt"),
        ("gzip", gzip.compress(b"x" * 100)[:-4], "the gzip data ends early (truncated)"),
        ("deflate", zlib.compress(b"x" * 100)[:-2], "the deflate data ends early (truncated)"),
        ("deflate", b"\x78", "the deflate data ends early (truncated)"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"y" * 100)[:-3]), "the gzip data ends early (truncated)"),
    ],
)
def test_corrupt_and_truncated_data_are_errors_that_do_not_echo_it(header: str, data: bytes, message: str) -> None:
    with pytest.raises(CorruptBody) as caught:
        decode_all(header, data, 10_000)
    assert str(caught.value) == message  # names the coding, never the body's bytes


def test_raw_and_zlib_wrapped_deflate_are_told_apart() -> None:
    body = b"deflate me " * 50
    assert decode_all("deflate", zlib.compress(body), 1000, [1]) == body
    assert decode_all("deflate", raw_deflate(body), 1000, [1]) == body
    assert decode_all("deflate", raw_deflate(body, 0), 1000, [1, 2]) == body  # stored blocks


def test_declared_length() -> None:
    assert declared_length("1024") == 1024
    assert declared_length("0") == 0
    for bad in ("", "-1", "1e6", " 12", "²", "١٢", "9" * 5000, "0x10"):
        assert declared_length(bad) is None
