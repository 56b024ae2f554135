"""Response caching for safe operations (``cache: {ttl_s, scope}``), through the real sidecar and
client against a real HTTP upstream that counts what reaches it and sets the caching headers
each test asks for; fleet sharing on a real redis-server."""

from __future__ import annotations

import base64
import json
import pathlib
import time
from collections.abc import Iterator

import pytest
import redis as redis_py

from custom_api_client import connect
from custom_api_sidecar import parse_config
from custom_api_sidecar.audit import AuditLog
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.jobs import SqliteJobStore
from tests._support.cache_upstream import CacheUpstream
from tests._support.processes import RedisServer
from tests._support.sidecar import ThreadedSidecar, start_sidecar

LOCAL = "allow_http: true, private_network: true"
CACHE_KEY = base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[CacheUpstream]:
    server = CacheUpstream()
    yield server
    server.close()


def config(upstream: CacheUpstream, *, cache: str = "{ttl_s: 30}", extra: str = "", redis: str = "") -> str:
    return f"""{redis}
apis:
  - name: shop
    connection: {{{LOCAL}, base_url: "{upstream.url}"}}
    authentication: {{type: bearer_token, config: {{token: "env://SHOP_TOKEN"}}}}
    endpoints:
      - {{name: hours, method: GET, path: /hours, cache: {cache}}}
      - {{name: order, method: GET, path: "/orders/{{order_id}}", cache: {{ttl_s: 30, scope: conversation}}}}
      - {{name: head_hours, method: HEAD, path: /hours, cache: {{ttl_s: 30}}}}
      - {{name: fresh, method: GET, path: /fresh}}
{extra}"""


@pytest.fixture
def running(
    upstream: CacheUpstream, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadedSidecar]:
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    sidecar = start_sidecar(config(upstream), str(tmp_path / "s.sock"))
    yield sidecar
    sidecar.stop()


def n(response) -> int:  # type: ignore[no-untyped-def]
    return int(response.json()["n"])


def test_a_repeat_is_answered_from_the_cache_and_other_arguments_are_not(running, upstream):
    with connect(running.unix_target) as conv:
        before = upstream.count
        first = conv.api.shop.hours(params={"store": "leeds"})
        second = conv.api.shop.hours(params={"store": "leeds"})
        other = conv.api.shop.hours(params={"store": "york"})
        again = conv.api.shop.hours(params={"store": "york"})
        headers = conv.api.shop.hours(params={"store": "york"}, headers={"Accept-Language": "cy"})
    assert upstream.count - before == 3  # leeds, york, york in Welsh
    assert (first.from_cache, second.from_cache, other.from_cache, again.from_cache) == (False, True, False, True)
    assert headers.from_cache is False
    assert second.content == first.content and second.status_code == 200 and n(other) == n(again)
    assert second.headers["Content-Type"] == "application/json" and second.url == first.url
    assert running.sidecar.response_cache.hits == 2 and running.sidecar.response_cache.misses == 3


async def test_the_async_client_sees_from_cache_too(running):
    from custom_api_client import connect_async

    async with connect_async(running.unix_target) as conv:
        first = await conv.api.shop.hours(params={"store": "async"})
        second = await conv.api.shop.hours(params={"store": "async"})
    assert (first.from_cache, second.from_cache) == (False, True)


def test_head_is_cached_and_an_uncached_operation_never_is(running, upstream):
    with connect(running.unix_target) as conv:
        before = upstream.count
        heads = [conv.api.shop.head_hours(params={"q": "head"}) for _ in range(3)]
        fresh = [conv.api.shop.fresh() for _ in range(3)]
    assert [r.from_cache for r in heads] == [False, True, True]
    assert [r.from_cache for r in fresh] == [False, False, False]
    assert upstream.count - before == 4


def test_an_entry_expires_after_its_ttl(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    sidecar = start_sidecar(config(upstream, cache="{ttl_s: 0.5}"), str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target) as conv:
            first = conv.api.shop.hours(params={"t": "ttl"})
            assert conv.api.shop.hours(params={"t": "ttl"}).from_cache
            time.sleep(0.8)
            later = conv.api.shop.hours(params={"t": "ttl"})
        assert later.from_cache is False and n(later) > n(first)
    finally:
        sidecar.stop()


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ({"cc": "no-store"}, False),
        ({"cc": "public, NO-STORE"}, False),
        ({"cc": "no-cache"}, False),
        ({"cc": "private, max-age=60"}, False),  # api scope: every caller with these credentials shares it
        ({"cc": "max-age=60"}, True),
        ({"cc": "max-age=0"}, False),
        ({"cc": "max-age=-5"}, False),  # invalid: stale at once
        ({"cc": "max-age=" + "9" * 400}, True),  # absurdly long: shortens nothing, costs nothing
        ({"cc": "max-age=60", "age": "60"}, False),  # already as old as it may be
        ({"vary": "*"}, False),
        ({"vary": "Accept-Language"}, True),  # the caller's headers are in the key already
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, False),
        ({"expires": "not a date"}, False),
        ({"status": "404"}, False),
        ({"status": "500"}, False),
        ({"status": "204"}, True),
        ({"cookie": "1"}, True),  # stored: the API drops Set-Cookie before the answer is kept
    ],
)
def test_the_upstreams_cache_control_wins_when_it_is_stricter(running, upstream, query, cached):
    query = {**query, "case": json.dumps(query)}
    with connect(running.unix_target) as conv:
        conv.api.shop.hours(params=query)
        second = conv.api.shop.hours(params=query)
    assert second.from_cache is cached
    assert "set-cookie" not in second.headers


def test_max_age_shortens_the_ttl_and_never_lengthens_it(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    sidecar = start_sidecar(config(upstream, cache="{ttl_s: 0.6}"), str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target) as conv:
            short = {"cc": "max-age=1", "s": "short"}  # max-age is whole seconds: 1 s under a 0.6 s TTL
            long_ = {"cc": "s-maxage=3600, max-age=3600", "s": "long"}
            conv.api.shop.hours(params=short)
            conv.api.shop.hours(params=long_)
            assert conv.api.shop.hours(params=short).from_cache and conv.api.shop.hours(params=long_).from_cache
            time.sleep(0.9)  # past the configured 0.6 s: the upstream's hour does not lengthen it
            assert not conv.api.shop.hours(params=long_).from_cache
            assert not conv.api.shop.hours(params=short).from_cache
    finally:
        sidecar.stop()


def test_max_age_under_the_ttl_expires_the_entry_early(running):
    with connect(running.unix_target) as conv:  # ttl_s is 30
        query = {"cc": "max-age=1", "s": "early"}
        conv.api.shop.hours(params=query)
        assert conv.api.shop.hours(params=query).from_cache
        time.sleep(1.3)
        assert not conv.api.shop.hours(params=query).from_cache


def test_the_conversation_scope_keeps_conversations_apart(running, upstream):
    before = upstream.count
    with connect(running.unix_target, conversation_id="conv-alice") as alice:
        a1, a2 = alice.api.shop.order("o-1"), alice.api.shop.order("o-1")
    with connect(running.unix_target, conversation_id="conv-bob") as bob:
        b1, b2 = bob.api.shop.order("o-1"), bob.api.shop.order("o-1")
    with connect(running.unix_target) as nobody:  # no conversation to scope it to: not cached
        c1, c2 = nobody.api.shop.order("o-1"), nobody.api.shop.order("o-1")
    assert [r.from_cache for r in (a1, a2, b1, b2, c1, c2)] == [False, True, False, True, False, False]
    assert n(b1) != n(a1) and upstream.count - before == 4


def test_private_answers_are_cached_in_the_conversation_scope(running):
    with connect(running.unix_target, conversation_id="conv-private") as conv:
        conv.api.shop.order("o-2", params={"cc": "private, max-age=60"})
        assert conv.api.shop.order("o-2", params={"cc": "private, max-age=60"}).from_cache
        conv.api.shop.order("o-3", params={"cc": "no-store"})
        assert not conv.api.shop.order("o-3", params={"cc": "no-store"}).from_cache


def test_two_credentials_never_share_an_entry(upstream, tmp_path):
    token = tmp_path / "token"
    token.write_text("token-A")
    text = config(upstream).replace('"env://SHOP_TOKEN"', f'"file://{token}"')
    sidecar = start_sidecar("secrets: {refresh_interval_s: 0.2}\n" + text, str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target) as conv:
            first = conv.api.shop.hours(params={"who": "tenant"})
            assert conv.api.shop.hours(params={"who": "tenant"}).from_cache
            token.write_text("token-B")  # a rotated key (or another tenant's) must not see token-A's answer
            deadline = time.monotonic() + 10
            while (
                conv.api.shop.fresh().json() and upstream.requests[-1]["headers"]["authorization"] != "Bearer token-B"
            ):
                assert time.monotonic() < deadline, "the rotated token was never used"
                time.sleep(0.1)
            as_b = conv.api.shop.hours(params={"who": "tenant"})
            assert as_b.from_cache is False and n(as_b) > n(first)
            assert upstream.requests[-1]["headers"]["authorization"] == "Bearer token-B"
    finally:
        sidecar.stop()


def test_the_byte_budget_evicts_the_least_recently_used(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    budget = 64 * 1024  # entries up to 8 KiB
    sidecar = start_sidecar(config(upstream), str(tmp_path / "s.sock"), cache_max_bytes=budget)
    cache = sidecar.sidecar.response_cache
    try:
        with connect(sidecar.unix_target) as conv:
            for index in range(20):  # 20 x ~6 KiB: about 9 fit
                conv.api.shop.hours(params={"page": str(index), "size": "6000"})
                assert cache.local.bytes <= budget
            assert cache.local.evictions >= 10 and len(cache.local) <= 10
            assert conv.api.shop.hours(params={"page": "19", "size": "6000"}).from_cache  # the newest stayed
            assert not conv.api.shop.hours(params={"page": "0", "size": "6000"}).from_cache  # the oldest went
            conv.api.shop.hours(params={"page": "big", "size": "9000"})  # over an eighth of the budget
            assert not conv.api.shop.hours(params={"page": "big", "size": "9000"}).from_cache
            assert cache.local.bytes <= budget
    finally:
        sidecar.stop()


def test_a_zero_budget_turns_caching_off(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    sidecar = start_sidecar(config(upstream), str(tmp_path / "s.sock"), cache_max_bytes=0)
    try:
        with connect(sidecar.unix_target) as conv:
            assert [conv.api.shop.hours(params={"z": "0"}).from_cache for _ in range(2)] == [False, False]
    finally:
        sidecar.stop()


@pytest.mark.parametrize(
    ("endpoint", "field", "message"),
    [
        ("{name: add, method: POST, path: /x, cache: {ttl_s: 30}}", "endpoints[0].cache", "only GET and HEAD"),
        ("{name: rm, method: DELETE, path: /x, cache: {ttl_s: 30}}", "endpoints[0].cache", "this operation is DELETE"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: 0}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: -1}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: 86401}}", "endpoints[0].cache.ttl_s", "at most 86400"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: .nan}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: '30'}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: g, method: GET, path: /x, cache: {ttl_s: true}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: g, method: GET, path: /x, cache: {scope: global}}", "endpoints[0].cache.scope", "api, conversation"),
        ("{name: g, method: GET, path: /x, cache: {ttl: 30}}", "endpoints[0].cache.ttl", "unknown field"),
        ("{name: g, method: GET, path: /x, cache: 30}", "endpoints[0].cache", "must be a mapping"),
    ],
)
def test_a_bad_cache_setting_is_a_load_error_naming_the_field(endpoint, field, message):
    text = f"""
apis:
  - name: shop
    connection: {{base_url: "https://shop.example.com"}}
    endpoints: [{endpoint}]
"""
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "apis.yaml")
    problems = [p for p in refused.value.problems if p.field == field]
    assert problems and message in problems[0].message, refused.value.problems
    assert "'" + "x" * 200 not in str(refused.value)


def test_redis_cache_needs_a_cache_key():
    text = """
redis: {url: "redis://127.0.0.1:1/0", cache: true, jobs: false}
apis:
  - name: shop
    connection: {base_url: "https://shop.example.com"}
    endpoints: [{name: g, method: GET, path: /x, cache: {ttl_s: 30}}]
"""
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "apis.yaml")
    assert [p.field for p in refused.value.problems] == ["redis.cache_key"]
    literal = text.replace("cache: true,", f"cache: true, cache_key: {CACHE_KEY},")
    with pytest.raises(ConfigError) as refused:
        parse_config(literal, "apis.yaml")
    assert "not a literal" in str(refused.value) and CACHE_KEY not in str(refused.value)


def test_discovery_and_tool_export_show_the_cache_setting(running):
    with connect(running.unix_target) as conv:
        schema = conv.api.shop.schema()
    operations = {op["name"]: op for op in schema["operations"]}
    assert operations["hours"]["cache"] == {"ttl_s": 30.0, "scope": "api"}
    assert operations["order"]["cache"] == {"ttl_s": 30.0, "scope": "conversation"}
    assert operations["fresh"]["cache"] is None


def test_a_reload_drops_the_changed_apis_entries_and_keeps_the_others(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    other = f"""
  - name: weather
    connection: {{{LOCAL}, base_url: "{upstream.url}"}}
    endpoints: [{{name: today, method: GET, path: /weather, cache: {{ttl_s: 30}}}}]"""
    sidecar = start_sidecar(config(upstream, extra=other), str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target) as conv:
            conv.api.shop.hours(params={"r": "1"})
            conv.api.weather.today()
            assert conv.api.shop.hours(params={"r": "1"}).from_cache and conv.api.weather.today().from_cache
            changed = config(upstream, cache="{ttl_s: 60}", extra=other)  # shop's definition changes
            sidecar.run(sidecar.sidecar.reload(parse_config(changed, "test.yaml")))
            assert not conv.api.shop.hours(params={"r": "1"}).from_cache
            assert conv.api.weather.today().from_cache  # unchanged: its answers stay
            assert conv.api.shop.hours(params={"r": "1"}).from_cache
    finally:
        sidecar.stop()


def test_audit_records_say_hit_or_miss(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    audit_path = tmp_path / "audit.jsonl"
    sidecar = start_sidecar(config(upstream), str(tmp_path / "s.sock"), audit=AuditLog(str(audit_path)))
    try:
        with connect(sidecar.unix_target, conversation_id="conv-audit") as conv:
            conv.api.shop.hours(params={"a": "1"})
            conv.api.shop.hours(params={"a": "1"})
            conv.api.shop.fresh()
    finally:
        sidecar.stop()
    records = [json.loads(line) for line in audit_path.read_text().splitlines()]
    calls = [r for r in records if r["type"] == "call"]
    assert [(r["operation"], r["cache"], r["attempts"]) for r in calls] == [
        ("hours", "miss", 1),
        ("hours", "hit", 0),
        ("fresh", None, 1),
    ]


def test_a_background_call_goes_upstream_and_warms_the_cache(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    sidecar = start_sidecar(
        config(upstream), str(tmp_path / "s.sock"), job_store=SqliteJobStore(tmp_path / "jobs.sqlite3")
    )
    try:
        with connect(sidecar.unix_target, conversation_id="conv-bg") as conv:
            conv.api.shop.hours(params={"b": "1"})
            before = upstream.count
            accepted = conv.api.shop.hours(params={"b": "1"}, background=True)
            job = conv.api.jobs.wait(accepted.job_id, timeout=20)
            assert job.state == "succeeded" and upstream.count == before + 1  # not served from the cache
            warmed = conv.api.shop.hours(params={"b": "1"})
        assert warmed.from_cache and n(warmed) == before + 1  # the background call's answer
    finally:
        sidecar.stop()


# --- fleet mode: a real redis-server ---------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    monkeypatch.setenv("FLEET_CACHE_KEY", CACHE_KEY)
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def fleet_config(upstream: CacheUpstream, redis: RedisServer) -> str:
    section = f"redis: {{url: '{redis.url}', cache: true, cache_key: env://FLEET_CACHE_KEY, jobs: false}}"
    return config(upstream, redis=section)


def cache_values(redis: RedisServer) -> dict[bytes, bytes]:
    client = redis_py.Redis.from_url(redis.url)
    try:
        return {key: client.get(key) for key in client.scan_iter("custom-api-sidecar:{sandbox:shop}:cache:*")}
    finally:
        client.close()


def test_two_sidecars_share_entries_sealed_in_redis(upstream, redis, tmp_path):
    a = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "a.sock"))
    b = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "b.sock"))
    try:
        with connect(a.unix_target) as on_a, connect(b.unix_target) as on_b:
            first = on_a.api.shop.hours(params={"phone": "+441234567890"})
            deadline = time.monotonic() + 5
            while not cache_values(redis):  # written in the background
                assert time.monotonic() < deadline
                time.sleep(0.05)
            before = upstream.count
            shared = on_b.api.shop.hours(params={"phone": "+441234567890"})
            assert shared.from_cache and shared.content == first.content and upstream.count == before
            assert on_b.api.shop.hours(params={"phone": "+441234567890"}).from_cache  # now in b's LRU
        values = cache_values(redis)
        assert len(values) == 1
        key, value = next(iter(values.items()))
        assert b"441234567890" not in key + value and b"token-A" not in key + value  # sealed, keyed
        ttl = redis_py.Redis.from_url(redis.url).pttl(key)
        assert 25_000 < ttl <= 30_000  # Redis TTL = the entry's
    finally:
        a.stop()
        b.stop()


def test_a_tampered_or_forged_redis_entry_is_refused_never_served(upstream, redis, tmp_path):
    a = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "a.sock"))
    b = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "b.sock"))
    client = redis_py.Redis.from_url(redis.url)
    try:
        with connect(a.unix_target) as on_a, connect(b.unix_target) as on_b:
            on_a.api.shop.hours(params={"x": "tamper"})
            deadline = time.monotonic() + 5
            while not cache_values(redis):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            key, value = next(iter(cache_values(redis).items()))
            flipped = value[:-1] + bytes([value[-1] ^ 1])
            client.set(key, flipped, px=30_000)
            before = upstream.count
            served = on_b.api.shop.hours(params={"x": "tamper"})
            assert not served.from_cache and upstream.count == before + 1
            assert b.sidecar.response_cache.shared.refused == 1  # type: ignore[union-attr]
            # a value moved from another key (a sealed answer for another request) does not open either
            on_a.api.shop.hours(params={"x": "other"})
            deadline = time.monotonic() + 5
            while len(cache_values(redis)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            values = cache_values(redis)
            other_key = next(k for k in values if k != key)
            target = key  # b already holds "tamper" locally now; ask c, a fresh sidecar
            client.set(target, values[other_key], px=30_000)
            client.set(other_key, b"\x00" * (10 * 1024 * 1024), px=30_000)  # oversized garbage
        c = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "c.sock"))
        try:
            with connect(c.unix_target) as on_c:
                before = upstream.count
                moved = on_c.api.shop.hours(params={"x": "tamper"})
                sent_before = int(client.info("stats")["total_net_output_bytes"])
                big = on_c.api.shop.hours(params={"x": "other"})
                sent = int(client.info("stats")["total_net_output_bytes"]) - sent_before
            assert sent < 1024 * 1024  # the 10 MB value was measured in Redis, never sent to the sidecar
            assert not moved.from_cache and not big.from_cache and upstream.count == before + 2
            assert c.sidecar.response_cache.shared.refused == 2  # type: ignore[union-attr]
        finally:
            c.stop()
    finally:
        client.close()
        a.stop()
        b.stop()


def test_redis_down_means_local_entries_only_and_no_wait(upstream, redis, tmp_path):
    a = start_sidecar(fleet_config(upstream, redis), str(tmp_path / "a.sock"))
    try:
        redis.kill()
        with connect(a.unix_target) as conv:
            started = time.monotonic()
            results = [conv.api.shop.hours(params={"down": "1"}) for _ in range(5)]
            elapsed = time.monotonic() - started
        assert [r.from_cache for r in results] == [False, True, True, True, True]
        assert elapsed < 5  # timeout_ms is 50: no call waits on the dead Redis beyond it
        assert a.sidecar.fleet is not None and a.sidecar.fleet.redis.fallbacks >= 1
    finally:
        a.stop()


# --- imported operations: an amending endpoints: entry ------------------------------------------------------------

SPEC = """
openapi: 3.0.0
info: {title: Shop, version: "1"}
paths:
  /hours:
    get: {operationId: getHours, responses: {"200": {description: ok}}}
  /orders:
    post: {operationId: createOrder, responses: {"200": {description: ok}}}
"""


def test_imported_operations_are_cached_through_an_amending_entry(upstream, tmp_path):
    (tmp_path / "shop.yaml").write_text(SPEC)
    text = f"""
apis:
  - name: shop
    connection: {{{LOCAL}, base_url: "{upstream.url}"}}
    openapi:
      spec: {tmp_path / "shop.yaml"}
    endpoints:
      - {{name: get_hours, cache: {{ttl_s: 30, scope: conversation}}}}
"""
    sidecar = start_sidecar(text, str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target, conversation_id="conv-spec") as conv:
            first, second = conv.api.shop.get_hours(), conv.api.shop.get_hours()
            schema = conv.api.shop.schema()
        assert (first.from_cache, second.from_cache) == (False, True)
        cached = {op["name"]: op["cache"] for op in schema["operations"]}
        assert cached == {"get_hours": {"ttl_s": 30.0, "scope": "conversation"}, "create_order": None}
    finally:
        sidecar.stop()


@pytest.mark.parametrize(
    ("setting", "field", "message"),
    [
        ("{name: create_order, cache: {ttl_s: 30}}", "endpoints[0].cache", "this operation is POST"),
        ("{name: get_hourz, cache: {ttl_s: 30}}", "endpoints[0].name", "is not an imported operation"),
        ("{name: get_hours, cache: {ttl_s: 0}}", "endpoints[0].cache.ttl_s", "above 0"),
        ("{name: get_hours, cache: [30]}", "endpoints[0].cache", "must be a mapping"),
    ],
)
def test_a_bad_cache_on_an_imported_operation_is_a_load_error_naming_the_field(tmp_path, setting, field, message):
    (tmp_path / "shop.yaml").write_text(SPEC)
    text = f"""
apis:
  - name: shop
    connection: {{base_url: "https://shop.example.com"}}
    openapi: {{spec: {tmp_path / "shop.yaml"}}}
    endpoints: [{setting}]
"""
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "apis.yaml")
    problems = [p for p in refused.value.problems if p.field == field]
    assert problems and message in problems[0].message, refused.value.problems


def test_metrics_count_hits_misses_and_evictions_and_the_span_says_hit(upstream, tmp_path, monkeypatch):
    import urllib.request

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from custom_api_sidecar.metrics import make_metrics

    monkeypatch.setenv("SHOP_TOKEN", "token-A")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    sidecar = start_sidecar(
        config(upstream),
        str(tmp_path / "s.sock"),
        admin=("127.0.0.1", 0),
        metrics=make_metrics(admin=True, env={}),
        tracer_provider=provider,
        cache_max_bytes=16 * 1024,  # entries up to 2 KiB: a handful fit
    )
    try:
        with connect(sidecar.unix_target) as conv:
            conv.api.shop.hours(params={"m": "1"})
            conv.api.shop.hours(params={"m": "1"})
            for index in range(12):
                conv.api.shop.hours(params={"m": f"fill-{index}", "size": "900"})
        with urllib.request.urlopen(f"{sidecar.admin_url}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        sidecar.stop()
    lookups = [line for line in text.splitlines() if line.startswith("custom_api_sidecar_cache_lookups")]
    assert any(
        'result="hit"' in line and 'custom_api_operation="hours"' in line and line.endswith(" 1") for line in lookups
    )
    assert any('result="miss"' in line and line.endswith(" 13") for line in lookups), lookups
    evictions = [line for line in text.splitlines() if line.startswith("custom_api_sidecar_cache_evictions")]
    assert evictions and float(evictions[0].rsplit(" ", 1)[1]) >= 3
    assert any(line.startswith("custom_api_sidecar_cache_bytes") for line in text.splitlines())
    hits = [s.attributes.get("custom_api.cache.hit") for s in spans.get_finished_spans() if s.name.endswith("/Invoke")]
    assert hits[:2] == [False, True]
