"""Fleet mode on a real Redis Cluster: 6 ``redis-server`` processes (3 primaries, 3 replicas,
``--cluster-node-timeout 2000``), an ACL user and TLS on every node and on the cluster bus, started
once for the module. Two in-process sidecars share it (``redis.cluster.nodes``, 5 job shards).

- limits are exact across the sidecars, and limit, token and job-shard keys spread over the primaries;
- the ACL is enforced (the default user is refused) and the sidecar speaks TLS with a client certificate;
- the primary owning the job queue's first shards, a rate limit and a token is SIGKILLed mid-run:
  every background call answered 202 reaches the upstream, no limited call waits longer than its
  bound, limits fall back then return to fleet-wide, and the token is fetched at most once more.
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
from tests._support.redis_topologies import USER, ClusterSet
from tests._support.sidecar import ThreadedSidecar, start_sidecar

PASSWORD = "cluster-acl-password-7e3a"
LIMIT = 30  # per minute, fleet-wide
ENV = {
    "HA_REDIS_PASSWORD": PASSWORD,
    "HA_TOKEN_KEY": base64.b64encode(bytes(range(32))).decode(),
    "HA_JOB_KEY": base64.b64encode(bytes(range(64, 96))).decode(),
    "HA_CLIENT_SECRET": "cluster-client-secret",
}
LOCAL = "allow_http: true, private_network: true, circuit_breaker: {enabled: false}"
# On a cluster made by redis-cli (slots 0-5460, 5461-10922, 10923-16383 in node order): job shards 0, 1
# and 5 and the APIs "limited" and "booking" hash to the second range; shards 2, 3 to the first, 4 to the third.
JOB_SHARDS = 5


def config(cluster: ClusterSet, upstream: CountingUpstream, issuer: OAuth2MockServer, protected: ProtectedApi,
           username: str | None = USER) -> str:  # fmt: skip
    user = f"username: {username}\n  " if username else ""
    return f"""
redis:
  cluster: {{nodes: {cluster.nodes_setting()}}}
  {user}password: env://HA_REDIS_PASSWORD
  tls: {cluster.tls_settings()}
  token_key: env://HA_TOKEN_KEY
  job_key: env://HA_JOB_KEY
  timeout_ms: 250
  job_shards: {JOB_SHARDS}
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
      config: {{token_url: "{issuer.token_url}", client_id: cluster-client, client_secret: "env://HA_CLIENT_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /items}}]
"""


@dataclass
class Setup:
    cluster: ClusterSet
    upstream: CountingUpstream
    issuer: OAuth2MockServer
    protected: ProtectedApi
    tmp: pathlib.Path
    sidecars: list[ThreadedSidecar]

    def start_sidecar(self, name: str, **kwargs: str | None) -> ThreadedSidecar:
        store = SqliteJobStore(self.tmp / f"{name}.sqlite3")
        text = config(self.cluster, self.upstream, self.issuer, self.protected, **kwargs)
        running = start_sidecar(text, str(self.tmp / f"{name}.sock"), job_store=store)
        return running


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, issuer: OAuth2MockServer, protected: ProtectedApi
) -> Iterator[Setup]:
    env = pytest.MonkeyPatch()  # module-scoped: the fixture's own, undone at the end
    for name, value in ENV.items():
        env.setenv(name, value)
    tmp = tmp_path_factory.mktemp("cluster")
    cluster = ClusterSet(tmp, PASSWORD)
    upstream = CountingUpstream()
    issuer.reset()
    s = Setup(cluster, upstream, issuer, protected, tmp, [])
    try:
        s.sidecars = [s.start_sidecar("a"), s.start_sidecar("b")]
        yield s
    finally:
        for sidecar in s.sidecars:
            sidecar.stop()
        cluster.stop()
        upstream.close()
        env.undo()


def key(what: str) -> str:
    return f"custom-api-sidecar:{{sandbox:{what}}}"


def test_limits_are_exact_and_keys_spread_over_the_primaries(setup: Setup):
    assert all(s.sidecar.fleet is not None and s.sidecar.fleet.redis.available for s in setup.sidecars)
    admitted = 0
    for _ in range(LIMIT):  # 2 x 30 calls against 30 per minute
        for sidecar in setup.sidecars:
            with connect(sidecar.unix_target) as conv, contextlib.suppress(errors.RateLimited):
                admitted += conv.api.limited.ping().status_code == 200
    owner = setup.cluster.owner
    counted = setup.cluster.command(key("limited"), "ZCARD", f"{key('limited')}:rl:minute").strip()
    shards = {owner(key("background-jobs" + (f":{i}" if i else ""))) for i in range(JOB_SHARDS)}
    print(f"\ncluster: {admitted} of {2 * LIMIT} calls admitted (limit {LIMIT}/min); job shards on "
          f"{len(shards)} of 3 primaries; limited on {owner(key('limited'))}, booking on {owner(key('booking'))}, "
          f"tickets on {owner(key('tickets'))}")  # fmt: skip
    assert admitted == LIMIT
    assert counted == str(LIMIT)
    assert len(shards) == 3  # the queue is no single hot key: its shards spread over every primary
    assert len({owner(key(api)) for api in ("limited", "tickets", "hr")}) == 3  # so do APIs' keys


def test_the_acl_and_tls_are_what_the_sidecar_uses(setup: Setup):
    """The default user is off: without redis.username the same password is refused, and
    calls fall back (never echoing the password)."""
    outsider = setup.start_sidecar("outsider", username=None)
    try:
        assert outsider.sidecar.fleet is not None and not outsider.sidecar.fleet.redis.available
        with connect(outsider.unix_target) as conv:
            assert conv.api.tickets.run(1_000_001).status_code == 200
    finally:
        outsider.stop()
    clients = setup.cluster.cli(setup.cluster.ports[0], "CLIENT", "LIST")
    assert f"user={USER}" in clients  # the sidecars' connections are the ACL user's


def test_a_primary_killed_mid_run_loses_no_acknowledged_job(setup: Setup):
    cluster, sidecars = setup.cluster, setup.sidecars
    with connect(sidecars[0].unix_target) as conv:
        assert conv.api.booking.get().status_code == 200
    fetches = setup.issuer.hits
    victim = cluster.owner(key("background-jobs"))
    assert victim == cluster.owner(key("limited")) == cluster.owner(key("booking"))
    run = run_failover(
        sidecars,
        kill=lambda: cluster.kill(victim),
        promoted=lambda: cluster.wait_healthy(replaced=victim),
        restore=lambda: (cluster.restart(victim), cluster.wait_replicated()),
    )
    seen = wait_delivered(setup.upstream, set(run.accepted))
    print(summary("cluster", run, seen, LIMIT))
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
    # Jobs went to the local stores while the shard had no primary (or no replica), and to Redis again after.
    assert sum(run.kept_locally) > 0
    with connect(sidecars[1].unix_target) as conv:
        late = [conv.api.tickets.run(2_000_000 + i, background=True).job_id for i in range(10)]
    in_redis = sum(
        cluster.command(shard_key(job), "EXISTS", shard_key(job) + f":job:{job}").strip() == "1" for job in late
    )
    assert in_redis >= 8, f"only {in_redis} of 10 jobs went to the cluster after it recovered"
    # A token cached on the failed-over shard: a new sidecar finds it, or fetches it once more.
    newcomer = setup.start_sidecar("newcomer")
    try:
        with connect(newcomer.unix_target) as conv:
            assert conv.api.booking.get().status_code == 200
    finally:
        newcomer.stop()
    print(f"  token fetches after the failover (a new sidecar): {setup.issuer.hits - fetches}")
    assert setup.issuer.hits - fetches <= 1


def shard_key(job_id: str) -> str:
    index = int(job_id[:8], 16) % JOB_SHARDS
    return key("background-jobs" + (f":{index}" if index else ""))
