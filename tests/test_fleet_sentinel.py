"""Fleet mode behind Redis Sentinel: a primary, one replica and 3 sentinels (``redis-server``
and ``redis-server --sentinel``), an ACL user and TLS on the data nodes and on the sentinels, which
require a password of their own; started once for the module. Two in-process sidecars share it
(``redis.sentinel: {nodes, service, password}``).

- limits are exact across the sidecars; the sentinels' password is required and used;
- the primary is SIGKILLed mid-run: every background call answered 202 reaches the upstream, no
  limited call waits longer than its bound, limits fall back then return to fleet-wide once a
  sentinel promoted the replica, and the token is fetched at most once more.
"""

from __future__ import annotations

import base64
import contextlib
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.jobs import SqliteJobStore
from tests._support.counting_upstream import CountingUpstream
from tests._support.failover_run import run_failover, summary, wait_delivered
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.redis_topologies import SERVICE, USER, SentinelSet
from tests._support.sidecar import ThreadedSidecar, start_sidecar

PASSWORD = "sentinel-data-password-51c0"
SENTINEL_PASSWORD = "sentinel-own-password-8d2f"
LIMIT = 30  # per minute, fleet-wide
ENV = {
    "HA_REDIS_PASSWORD": PASSWORD,
    "HA_TOKEN_KEY": base64.b64encode(bytes(range(32))).decode(),
    "HA_JOB_KEY": base64.b64encode(bytes(range(64, 96))).decode(),
    "HA_CLIENT_SECRET": "sentinel-client-secret",
    "HA_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
    "HA_WRONG_PASSWORD": "not-the-sentinel-password-0c1e",
}
LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"


def config(sentinels: SentinelSet, upstream: CountingUpstream, issuer: OAuth2MockServer, protected: ProtectedApi,
           sentinel_password: str = "env://HA_SENTINEL_PASSWORD") -> str:  # fmt: skip
    return f"""
redis:
  sentinel: {{nodes: {sentinels.nodes_setting()}, service: {SERVICE}, password: "{sentinel_password}"}}
  username: {USER}
  password: env://HA_REDIS_PASSWORD
  tls: {sentinels.tls_settings()}
  token_key: env://HA_TOKEN_KEY
  job_key: env://HA_JOB_KEY
  timeout_ms: 250
  job_claim_after_s: 2
apis:
  - name: limited
    connection: {{{LOCAL}, base_url: "{upstream.url}"}}
    endpoints: [{{name: ping, method: GET, path: /limited}}]
    security: {{rate_limit: {{requests_per_minute: {LIMIT}}}}}
  - name: tickets
    connection: {{{LOCAL}, base_url: "{upstream.url}", timeout_ms: 10000}}
    endpoints: [{{name: run, method: POST, path: "/jobs/{{n}}"}}]
  - name: booking
    connection: {{{LOCAL}, base_url: "{protected.url}"}}
    authentication:
      type: oauth2
      config: {{token_url: "{issuer.token_url}", client_id: sentinel-client, client_secret: "env://HA_CLIENT_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /items}}]
"""


@dataclass
class Setup:
    sentinels: SentinelSet
    upstream: CountingUpstream
    issuer: OAuth2MockServer
    protected: ProtectedApi
    tmp: pathlib.Path
    sidecars: list[ThreadedSidecar]

    def start_sidecar(self, name: str, **kwargs: str) -> ThreadedSidecar:
        store = SqliteJobStore(self.tmp / f"{name}.sqlite3")
        text = config(self.sentinels, self.upstream, self.issuer, self.protected, **kwargs)
        running = start_sidecar(text, str(self.tmp / f"{name}.sock"), job_store=store)
        return running


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, issuer: OAuth2MockServer, protected: ProtectedApi
) -> Iterator[Setup]:
    env = pytest.MonkeyPatch()  # module-scoped: the fixture's own, undone at the end
    for name, value in ENV.items():
        env.setenv(name, value)
    tmp = tmp_path_factory.mktemp("sentinel")
    sentinels = SentinelSet(tmp, PASSWORD, SENTINEL_PASSWORD)
    upstream = CountingUpstream()
    issuer.reset()
    s = Setup(sentinels, upstream, issuer, protected, tmp, [])
    try:
        s.sidecars = [s.start_sidecar("a"), s.start_sidecar("b")]
        yield s
    finally:
        for sidecar in s.sidecars:
            sidecar.stop()
        sentinels.stop()
        upstream.close()
        env.undo()


def key(what: str) -> str:
    return f"custom-api-sidecar:{{sandbox:{what}}}"


def test_limits_are_exact_through_the_primary_the_sentinels_name(setup: Setup):
    assert all(s.sidecar.fleet is not None and s.sidecar.fleet.redis.available for s in setup.sidecars)
    admitted = 0
    for _ in range(LIMIT):  # 2 x 30 calls against 30 per minute
        for sidecar in setup.sidecars:
            with connect(sidecar.unix_target) as conv, contextlib.suppress(errors.RateLimited):
                admitted += conv.api.limited.ping().status_code == 200
    primary = setup.sentinels.primary()
    counted = setup.sentinels.cli(primary, "ZCARD", f"{key('limited')}:rl:minute").strip()
    print(f"\nsentinel: {admitted} of {2 * LIMIT} calls admitted (limit {LIMIT}/min) through primary {primary}")
    assert admitted == LIMIT
    assert counted == str(LIMIT)
    clients = setup.sentinels.cli(primary, "CLIENT", "LIST")
    assert f"user={USER}" in clients  # the ACL user, over TLS (the only port there is)


def test_a_wrong_sentinel_password_is_refused_and_never_shown(setup: Setup, caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", "custom_api_sidecar.redis")
    outsider = setup.start_sidecar("outsider", sentinel_password="env://HA_WRONG_PASSWORD")
    try:
        assert outsider.sidecar.fleet is not None and not outsider.sidecar.fleet.redis.available
        with connect(outsider.unix_target) as conv:
            assert conv.api.tickets.run(1_000_001).status_code == 200  # calls go on, on local limits
    finally:
        outsider.stop()
    assert "redis: unavailable at startup" in caplog.text
    assert ENV["HA_WRONG_PASSWORD"] not in caplog.text and SENTINEL_PASSWORD not in caplog.text


def test_the_primary_killed_mid_run_loses_no_acknowledged_job(setup: Setup):
    sentinels, sidecars = setup.sentinels, setup.sidecars
    with connect(sidecars[0].unix_target) as conv:
        assert conv.api.booking.get().status_code == 200
    fetches = setup.issuer.hits
    victim = sentinels.primary()
    promoted: list[int] = []

    def wait_promoted() -> float:
        port, when = sentinels.wait_promoted(victim)
        promoted.append(port)
        return when

    run = run_failover(
        sidecars,
        kill=lambda: sentinels.kill(victim),
        promoted=wait_promoted,
        restore=lambda: (sentinels.restart(victim), sentinels.wait_replicated(promoted[0])),
    )
    seen = wait_delivered(setup.upstream, set(run.accepted))
    print(summary("sentinel", run, seen, LIMIT))
    # Every 202 reached the upstream.
    assert run.accepted and set(run.accepted) <= set(seen)
    assert not run.refused
    # No limited call waited on Redis beyond its 250 ms bound (plus this machine's noise).
    assert run.slowest() < 0.25 + 0.75
    # Limits fell back to each sidecar's own (at most one limit each more), then counted fleet-wide again.
    assert LIMIT <= run.admitted() <= LIMIT * (1 + len(sidecars))
    after = [outcome for when, outcome, _ in run.limited if when > run.resumed_at + 0.5]
    assert after and "200" not in after  # the promoted replica had the window: still at the limit
    assert all(s.sidecar.fleet.redis.fallbacks > 0 for s in sidecars)
    # Jobs went to the local stores while there was no primary (or no replica), and to Redis again after.
    assert sum(run.kept_locally) > 0
    with connect(sidecars[1].unix_target) as conv:
        late = [conv.api.tickets.run(2_000_000 + i, background=True).job_id for i in range(10)]
    in_redis = sum(
        sentinels.cli(promoted[0], "EXISTS", key("background-jobs") + f":job:{job}").strip() == "1" for job in late
    )
    assert in_redis >= 8, f"only {in_redis} of 10 jobs went to Redis after it recovered"
    # The token cached on the old primary: a new sidecar finds it on the promoted one, or fetches it once more.
    newcomer = setup.start_sidecar("newcomer")
    try:
        with connect(newcomer.unix_target) as conv:
            assert conv.api.booking.get().status_code == 200
    finally:
        newcomer.stop()
    print(f"  token fetches after the failover (a new sidecar): {setup.issuer.hits - fetches}")
    assert setup.issuer.hits - fetches <= 1
