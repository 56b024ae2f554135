"""Fleet mode with real processes: 4 ``custom-api-sidecar serve`` processes sharing one real
redis-server, a real OAuth2 server (npm oauth2-mock-server) and real HTTP upstreams.

- a 100-per-minute limit admits exactly 100 calls across the 4 under concurrent load;
- 4 x 50 calls to an OAuth2 API cause exactly one token request at the OAuth2 server;
- Redis killed mid-run: calls continue on local limits and own tokens, then sharing resumes.
"""

from __future__ import annotations

import base64
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from custom_api_client import connect, errors
from tests._support.counting_upstream import CountingUpstream
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.processes import RedisServer, SidecarProcess

SIDECARS = 4
TOKEN_KEY = base64.b64encode(bytes(range(32))).decode()
JOB_KEY = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.fixture(autouse=True)
def job_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process sidecars read redis.job_key (required with jobs on) from the environment."""
    monkeypatch.setenv("FLEET_JOB_KEY", JOB_KEY)


def fleet_config(redis_url: str, upstream: CountingUpstream, issuer: OAuth2MockServer, protected: ProtectedApi) -> str:
    return f"""
redis:
  url: env://FLEET_REDIS_URL
  token_key: env://FLEET_TOKEN_KEY
  job_key: env://FLEET_JOB_KEY
  timeout_ms: 250
apis:
  - name: limited
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    endpoints: [{{name: ping, method: GET, path: /limited}}]
    security: {{rate_limit: {{requests_per_minute: 100}}}}
  - name: limited_b
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    endpoints: [{{name: ping, method: GET, path: /limited_b}}]
    security: {{rate_limit: {{requests_per_minute: 30}}}}
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{protected.url}"}}
    authentication:
      type: oauth2
      config: {{token_url: "{issuer.token_url}", client_id: fleet-client, client_secret: "env://FLEET_CLIENT_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /items}}]
"""


@dataclass
class Fleet:
    redis: RedisServer
    upstream: CountingUpstream
    issuer: OAuth2MockServer
    protected: ProtectedApi
    sidecars: list[SidecarProcess]
    config_path: pathlib.Path
    tmp: pathlib.Path
    env: dict[str, str]

    def start_sidecar(self, index: int) -> SidecarProcess:
        directory = self.tmp / f"s{index}"
        directory.mkdir(exist_ok=True)
        return SidecarProcess(self.config_path, directory / "s.sock", env=self.env)

    def outputs(self) -> str:
        return "\n".join(s.output for s in self.sidecars)


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, issuer: OAuth2MockServer, protected: ProtectedApi
) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("fleet")
    redis = RedisServer(tmp)
    upstream = CountingUpstream()
    issuer.reset()
    config_path = tmp / "apis.yaml"
    config_path.write_text(fleet_config(redis.url, upstream, issuer, protected))
    env = {
        "FLEET_REDIS_URL": redis.url,
        "FLEET_TOKEN_KEY": TOKEN_KEY,
        "FLEET_JOB_KEY": JOB_KEY,
        "FLEET_CLIENT_SECRET": "fleet-secret",
    }
    f = Fleet(redis, upstream, issuer, protected, [], config_path, tmp, env)
    try:
        with ThreadPoolExecutor(SIDECARS) as pool:  # started at once: they race for the first token
            f.sidecars = list(pool.map(f.start_sidecar, range(SIDECARS)))
        yield f
    finally:
        for sidecar in f.sidecars:
            sidecar.stop()
        redis.stop()
        upstream.close()


def run_concurrently(fleet: Fleet, threads_per_sidecar: int, calls: int, call) -> list[tuple[str, float]]:
    """``call(conv)`` from several threads per sidecar; (outcome, seconds) per call."""
    results: list[tuple[str, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(SIDECARS * threads_per_sidecar)

    def worker(sidecar: SidecarProcess) -> None:
        with connect(sidecar.target) as conv:
            start.wait()
            for _ in range(calls):
                began = time.perf_counter()
                try:
                    outcome = str(call(conv).status_code)
                except errors.CustomApiError as exc:
                    outcome = exc.code
                with lock:
                    results.append((outcome, time.perf_counter() - began))

    threads = [
        threading.Thread(target=worker, args=(sidecar,))
        for sidecar in fleet.sidecars
        for _ in range(threads_per_sidecar)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_a_100_per_minute_limit_admits_exactly_100_across_4_sidecars(fleet: Fleet):
    results = run_concurrently(fleet, threads_per_sidecar=2, calls=40, call=lambda conv: conv.api.limited.ping())
    outcomes = [outcome for outcome, _ in results]
    assert len(outcomes) == 320
    admitted = outcomes.count("200")
    at_upstream = sum(1 for r in fleet.upstream.requests if r["path"] == "/limited")
    in_redis = fleet.redis.command("ZCARD", "custom-api-sidecar:{sandbox:limited}:rl:minute")
    print(f"\nfleet rate limit: {admitted} of 320 concurrent calls admitted by 4 sidecars (limit 100/min); "
          f"{at_upstream} reached the upstream; {outcomes.count('RATE_LIMITED')} RATE_LIMITED")  # fmt: skip
    assert admitted == 100
    assert at_upstream == 100
    assert outcomes.count("RATE_LIMITED") == 220
    assert in_redis.strip() == b":100"
    assert "redis: unavailable" not in fleet.outputs()  # exact because nothing fell back


def test_4_sidecars_x_50_calls_cause_exactly_one_token_fetch(fleet: Fleet):
    results = run_concurrently(fleet, threads_per_sidecar=1, calls=50, call=lambda conv: conv.api.crm.get())
    assert [outcome for outcome, _ in results] == ["200"] * 200
    tokens_used = {token for _, token, _, status in fleet.protected.seen if status == 200}
    print(f"\nfleet tokens: 4 x 50 calls -> {fleet.issuer.hits} token request(s) at the OAuth2 server; "
          f"{len(tokens_used)} distinct token(s) used")  # fmt: skip
    assert fleet.issuer.hits == 1
    assert len(tokens_used) == 1
    # At rest in Redis the token is encrypted.
    (token,) = tokens_used
    keys = fleet.redis.command("KEYS", "custom-api-sidecar:{sandbox:crm}:oauth2:*")
    key = next(line for line in keys.decode().split("\r\n") if line.startswith("custom-api-sidecar:"))
    stored = fleet.redis.command("GET", key)
    assert len(stored) > 100 and token.encode() not in stored and token.split(".")[1].encode() not in stored


def test_redis_killed_mid_run_falls_back_then_sharing_resumes(fleet: Fleet):
    issuer, protected = fleet.issuer, fleet.protected
    fetches_before = issuer.hits
    fleet.redis.kill()
    # Rate limits: each sidecar falls back to its own local limit (30/min each, so 40 calls pass).
    results = run_concurrently(fleet, threads_per_sidecar=1, calls=10, call=lambda conv: conv.api.limited_b.ping())
    slowest = max(seconds for _, seconds in results)
    assert [outcome for outcome, _ in results] == ["200"] * 40
    # Tokens: the shared token is revoked; each sidecar gets a 401 and fetches its own.
    for token in {token for _, token, _, _ in protected.seen}:
        protected.revoke(token)
    results = run_concurrently(fleet, threads_per_sidecar=1, calls=3, call=lambda conv: conv.api.crm.get())
    assert [outcome for outcome, _ in results] == ["200"] * 12
    own_fetches = issuer.hits - fetches_before
    for sidecar in fleet.sidecars:
        assert "redis: unavailable" in sidecar.output
    # Redis returns (empty): every sidecar resumes sharing.
    fleet.redis.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all("sharing resumes" in s.output for s in fleet.sidecars):
        time.sleep(0.1)
    assert all("sharing resumes" in s.output for s in fleet.sidecars)
    results = run_concurrently(fleet, threads_per_sidecar=1, calls=10, call=lambda conv: conv.api.limited_b.ping())
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count("200") == 30 and outcomes.count("RATE_LIMITED") == 10  # fleet-wide again
    for token in {token for _, token, _, _ in protected.seen}:
        protected.revoke(token)
    fetches_before = issuer.hits
    results = run_concurrently(fleet, threads_per_sidecar=1, calls=3, call=lambda conv: conv.api.crm.get())
    assert [outcome for outcome, _ in results] == ["200"] * 12
    shared_fetches = issuer.hits - fetches_before
    print(f"\nredis outage: 40 of 40 calls admitted on local limits (limit 30/min fleet-wide), slowest "
          f"{slowest * 1000:.0f} ms; {own_fetches} token fetches for 4 sidecars (own tokens); after Redis "
          f"returned: 30 of 40 admitted, {shared_fetches} token fetch for 4 sidecars")  # fmt: skip
    assert own_fetches == SIDECARS
    assert shared_fetches == 1
    assert slowest < 2.0  # no call waited on the dead Redis beyond its bound (plus this machine's noise)


def test_a_hung_redis_costs_a_call_at_most_its_timeout(fleet: Fleet):
    """SIGSTOP: Redis accepts connections but never answers (worse than dead)."""
    assert fleet.redis.process is not None
    fleet.redis.process.send_signal(signal.SIGSTOP)
    try:
        with connect(fleet.sidecars[0].target) as conv:
            latencies = []
            for _ in range(6):
                began = time.perf_counter()
                assert conv.api.limited_b.ping().status_code in (200,)
                latencies.append(time.perf_counter() - began)
    finally:
        fleet.redis.process.send_signal(signal.SIGCONT)
    print(f"\nhung redis (timeout_ms 250): call latencies {[round(x * 1000) for x in latencies]} ms")
    assert max(latencies) < 0.250 + 0.5  # the bound plus this machine's noise
    assert max(latencies[3:]) < 0.1  # after 3 timeouts in a row Redis counts as down: no more waiting
    assert "redis: unavailable (3 commands in a row took longer than " in fleet.sidecars[0].output


# --- in-process checks: config, policies, counters ---------------------------------------------


def small_config(redis_url: str, upstream_url: str, redis_extra: str = "") -> str:
    return f"""
redis: {{url: "{redis_url}", job_key: "env://FLEET_JOB_KEY", timeout_ms: 200{redis_extra}}}
apis:
  - name: limited
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}"}}
    endpoints: [{{name: ping, method: GET, path: /limited}}]
    security: {{rate_limit: {{requests_per_minute: 5}}}}
"""


def test_redis_config_errors_name_the_field():
    from custom_api_sidecar import ConfigError, parse_config

    text = """
redis:
  {url: "redis://:hunter2@redis:6379/0", password: hunter2, timeout_ms: 0, on_unavailable: maybe, tls: {ca_cert: /x}}
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    authentication:
      type: oauth2
      config: {token_url: "https://id.example.com/token", client_id: c, client_secret: "env://S"}
    endpoints: [{name: get, method: GET, path: /items}]
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    message = str(info.value)
    assert "redis.url: must not contain a password; give redis.password as a secret reference" in message
    assert "redis.password: must be a secret reference (vault://, env:// or file://), not a literal" in message
    assert "redis.timeout_ms: must be an integer from 1 to 10000, not 0" in message
    assert "redis.on_unavailable: 'maybe' is not one of fallback, fail_closed" in message
    assert "redis.tls.ca_cert: must be a secret reference holding PEM text" in message
    assert "hunter2" not in message
    with pytest.raises(ConfigError, match=r"redis\.token_key: is required to share OAuth2 tokens across the fleet"):
        parse_config(text.replace('{url: "redis://:hunter2@redis:6379/0", password: hunter2,', "{url: redis://r,"))


async def test_a_token_key_that_is_not_32_bytes_stops_the_start(tmp_path, issuer):
    from custom_api_sidecar import Sidecar, parse_config
    from custom_api_sidecar.errors import StartupError

    os.environ["FLEET_BAD_KEY"] = base64.b64encode(b"short").decode()
    os.environ["FLEET_CLIENT_SECRET"] = "s"
    text = f"""
redis: {{url: "redis://127.0.0.1:1/0", token_key: "env://FLEET_BAD_KEY", job_key: "env://FLEET_JOB_KEY"}}
apis:
  - name: crm
    connection: {{base_url: "https://crm.example.com", allow_http: true, private_network: true}}
    authentication:
      type: oauth2
      config: {{token_url: "{issuer.token_url}", client_id: c, client_secret: "env://FLEET_CLIENT_SECRET"}}
    endpoints: [{{name: get, method: GET, path: /items}}]
"""
    sidecar = Sidecar(parse_config(text))
    with pytest.raises(StartupError, match=r"redis.token_key \(env://FLEET_BAD_KEY\) must decode to 32 bytes"):
        await sidecar.start()
    await sidecar.aclose()


def test_fail_closed_refuses_limited_calls_while_redis_is_down(tmp_path):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from custom_api_sidecar.metrics import Metrics
    from tests._support.sidecar import closed_port, start_sidecar

    upstream = CountingUpstream()
    reader = InMemoryMetricReader()
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    running = start_sidecar(
        small_config(dead, upstream.url, ", on_unavailable: fail_closed"),
        str(tmp_path / "s.sock"),
        metrics=Metrics(MeterProvider(metric_readers=[reader]), None),
    )
    try:
        with connect(running.unix_target) as conv:
            began = time.perf_counter()
            with pytest.raises(errors.RateLimited, match="its shared counter in Redis is unavailable"):
                conv.api.limited.ping()
            assert time.perf_counter() - began < 0.5
    finally:
        running.stop()
        upstream.close()
    assert upstream.requests == []
    points = [
        (dict(p.attributes), p.value)
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "custom_api_sidecar.redis.fallbacks"
        for p in m.data.data_points
    ]
    assert points == [({"feature": "rate_limit", "policy": "fail_closed"}, 1)]


def test_redis_down_at_start_then_up_resumes_sharing(tmp_path):
    from tests._support.sidecar import start_sidecar

    upstream = CountingUpstream()
    redis = RedisServer(tmp_path)
    redis.kill()  # down when the sidecar starts
    running = start_sidecar(small_config(redis.url, upstream.url), str(tmp_path / "s.sock"))
    try:
        with connect(running.unix_target) as conv:
            assert [conv.api.limited.ping().status_code for _ in range(5)] == [200] * 5  # local limit: 5
            with pytest.raises(errors.RateLimited, match="per minute reached"):
                conv.api.limited.ping()
            redis.start()
            deadline = time.monotonic() + 10
            while not running.sidecar.fleet.redis.available and time.monotonic() < deadline:
                time.sleep(0.05)
            assert conv.api.limited.ping().status_code == 200  # a fresh fleet-wide window in Redis
        assert redis.command("ZCARD", "custom-api-sidecar:{sandbox:limited}:rl:minute").strip() == b":1"
    finally:
        running.stop()
        redis.stop()
        upstream.close()


def test_tls_with_a_client_certificate_and_a_password_from_secret_references(tmp_path, caplog):
    import subprocess

    import redis as redis_py

    from tests._support.sidecar import start_sidecar

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    os.chmod(tmp_path / "key.pem", 0o600)
    password = "fleet-redis-password-31d4"
    server = RedisServer(
        tmp_path,
        tls=True,
        extra_args=[
            "--tls-cert-file", str(tmp_path / "cert.pem"), "--tls-key-file", str(tmp_path / "key.pem"),
            "--tls-ca-cert-file", str(tmp_path / "cert.pem"), "--tls-auth-clients", "yes",
            "--requirepass", password,
        ],
    )  # fmt: skip
    upstream = CountingUpstream()
    os.environ["FLEET_TLS_REDIS_PASSWORD"] = password
    tls = (
        f', password: "env://FLEET_TLS_REDIS_PASSWORD", tls: {{ca_cert: "file://{tmp_path}/cert.pem", '
        f'client_cert: "file://{tmp_path}/cert.pem", client_key: "file://{tmp_path}/key.pem"}}'
    )
    running = start_sidecar(small_config(server.url, upstream.url, tls), str(tmp_path / "s.sock"))
    try:
        fleet = running.sidecar.fleet
        assert fleet is not None and fleet.redis.available
        with connect(running.unix_target) as conv:
            assert [conv.api.limited.ping().status_code for _ in range(3)] == [200] * 3
        check = redis_py.Redis.from_url(
            server.url,
            password=password,
            ssl_ca_certs=str(tmp_path / "cert.pem"),
            ssl_certfile=str(tmp_path / "cert.pem"),
            ssl_keyfile=str(tmp_path / "key.pem"),
        )
        assert check.zcard("custom-api-sidecar:{sandbox:limited}:rl:minute") == 3  # counted in the TLS Redis
        check.close()
        tls_dir = fleet.redis._tls_dir
        assert tls_dir is not None and (os.stat(tls_dir).st_mode & 0o777) == 0o700
    finally:
        running.stop()
    assert not os.path.exists(tls_dir)  # the private copy of the client key is gone
    # A wrong password: Redis is reported unavailable (never the password), and calls fall back.
    caplog.set_level("INFO", "custom_api_sidecar.redis")
    os.environ["FLEET_TLS_REDIS_PASSWORD"] = "wrong-password-9f"
    running = start_sidecar(small_config(server.url, upstream.url, tls), str(tmp_path / "s2.sock"))
    try:
        assert running.sidecar.fleet is not None and not running.sidecar.fleet.redis.available
        with connect(running.unix_target) as conv:
            assert conv.api.limited.ping().status_code == 200
    finally:
        running.stop()
        server.stop()
        upstream.close()
    assert "redis: unavailable at startup" in caplog.text
    assert "wrong-password-9f" not in caplog.text and password not in caplog.text


async def test_a_cancelled_redis_command_ends_its_task(tmp_path):
    """Shutdown cancels the loops that talk to Redis; the client must let the cancellation through.
    (redis-py 8.0 and 8.1 swallowed it about 1 time in 4, and a graceful stop hung: pinned below 8.)"""
    import asyncio
    import random

    from custom_api_sidecar.config import RedisSettings
    from custom_api_sidecar.fleet import FleetRedis
    from custom_api_sidecar.secrets import SecretStore

    server = RedisServer(tmp_path)
    redis = FleetRedis(RedisSettings(url=server.url, timeout_ms=2000), SecretStore({}), "sandbox")
    try:
        await redis.start()
        assert redis.available

        async def loop() -> None:
            while True:
                await redis.run(lambda client: client.ping())

        stuck = 0
        for _ in range(100):
            task = asyncio.create_task(loop())
            await asyncio.sleep(random.uniform(0, 0.003))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1)
            stuck += not done
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1)
        assert stuck == 0, f"{stuck} of 100 cancelled tasks kept running"
    finally:
        await redis.aclose()
        server.stop()
