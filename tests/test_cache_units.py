"""The response cache's pure logic: freshness from hostile caching headers, the key's
separation of requests and credentials, the byte accounting, and what the shared store refuses."""

from __future__ import annotations

import time

import pytest

from custom_api_sidecar.auth import Credentials
from custom_api_sidecar.cache import CachedAnswer, CacheKey, KeyMaker, LocalCache, freshness
from custom_api_sidecar.cache._entry import Malformed
from custom_api_sidecar.cache._lru import ENTRY_OVERHEAD_BYTES
from custom_api_sidecar.pipeline import OutboundRequest


def request(url_path: str = "/hours", headers: list[tuple[str, str]] | None = None) -> OutboundRequest:
    return OutboundRequest("GET", "https://shop.example.com", url_path, [], headers or [])


def key(maker: KeyMaker, out: OutboundRequest, creds: Credentials | None = None, conv: str | None = None) -> str:
    return maker.key("live", "shop", "d1", "hours", out, creds, conv).hex


def test_freshness_survives_the_worst_headers_an_upstream_can_send():
    huge = ", ".join(["max-age=5"] * 20_000)  # a ~200 KB header (the transport bounds it before this)
    started = time.perf_counter()
    assert freshness(200, [("Cache-Control", huge)], 30, shared=True) == 5
    assert time.perf_counter() - started < 1
    assert freshness(200, [("Cache-Control", "max-age=" + "9" * 5000)], 30, shared=True) == 30
    assert freshness(200, [("Cache-Control", "max-age=١٢")], 30, shared=True) is None  # non-ASCII digits
    assert freshness(200, [("Expires", "x" * 100_000)], 30, shared=True) is None
    assert freshness(200, [("Age", "9" * 5000)], 30, shared=True) is None  # older than any lifetime
    assert freshness(200, [("cache-control", "PRIVATE")], 30, shared=False) == 30
    assert freshness(200, [("cache-control", "s-maxage=5, max-age=60")], 30, shared=True) == 5
    assert freshness(200, [("cache-control", "s-maxage=5, max-age=60")], 30, shared=False) == 30


def test_the_key_separates_requests_credentials_and_conversations():
    maker = KeyMaker()
    base = key(maker, request())
    assert key(maker, request()) == base
    assert key(maker, request("/hours2")) != base
    assert key(maker, request(headers=[("A", "bc")])) != key(maker, request(headers=[("Ab", "c")]))  # no ambiguity
    assert key(maker, request(headers=[("X-A", "1"), ("X-B", "2")])) == key(
        maker, request(headers=[("x-b", "2"), ("x-a", "1")])
    )
    token_a = Credentials(headers=(("Authorization", "Bearer a"),), secrets=("a",))
    token_b = Credentials(headers=(("Authorization", "Bearer b"),), secrets=("b",))
    assert len({key(maker, request(), token_a), key(maker, request(), token_b), base}) == 3
    assert key(maker, request(), conv="c1") != key(maker, request(), conv="c2") != base
    assert "Bearer a" not in key(maker, request(), token_a)
    assert KeyMaker().key("live", "shop", "d1", "hours", request(), None, None).hex != base  # per-process secret
    fleet = [KeyMaker(lambda: b"k" * 32) for _ in range(2)]
    assert key(fleet[0], request(), token_a) == key(fleet[1], request(), token_a)  # one fleet secret


def answer(size: int, expires_at: float = 0.0) -> CachedAnswer:
    return CachedAnswer(
        200, "OK", (("Content-Type", "application/json"),), b"x" * size, "https://s/h", "1.1", expires_at
    )


def test_the_byte_budget_counts_body_headers_key_and_overhead():
    evicted: list[str] = []
    cache = LocalCache(max_bytes=8 * 4096, on_evict=evicted.append)
    keys = [CacheKey("shop", "d1", f"{n:064x}") for n in range(20)]
    for k in keys:
        assert cache.put(k, answer(2000), ttl=30)
        assert cache.bytes <= cache.max_bytes
    one = 2000 + len("Content-Type") + len("application/json") + len("OK") + len("https://s/h") + 3
    assert cache.bytes == len(cache) * (one + 64 + 4 + ENTRY_OVERHEAD_BYTES)
    assert evicted and all(api == "shop" for api in evicted) and cache.get(keys[0]) is None
    assert cache.get(keys[-1]) is not None
    assert not cache.put(CacheKey("shop", "d1", "big"), answer(4096), ttl=30)  # over an eighth of the budget
    assert cache.keep_only({"shop": "d2"}) == len(keys) - len(evicted) and cache.bytes == 0


def test_an_expired_entry_is_not_served():
    now = [100.0]
    cache = LocalCache(clock=lambda: now[0])
    k = CacheKey("shop", "d1", "k")
    cache.put(k, answer(10), ttl=1.0)
    now[0] = 100.9
    assert cache.get(k) is not None
    now[0] = 101.0
    assert cache.get(k) is None and cache.bytes == 0


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"\x00" * 8 + b"\xff\xff\xff", b"\x00" * 8 + b"\x08\x01"])
def test_a_value_that_is_not_a_cached_answer_is_malformed(garbage):
    with pytest.raises(Malformed):
        CachedAnswer.from_bytes(garbage)


def test_a_cached_answer_round_trips():
    original = answer(100, expires_at=1_800_000_000.5)
    assert CachedAnswer.from_bytes(original.to_bytes()) == original
