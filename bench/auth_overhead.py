"""What credential injection costs per call (not a test): ``python -m bench.auth_overhead [--calls N]``.

One in-process sidecar, one upstream (bench/_upstream.py), one run, side by side:
p50/p90 of N sequential calls through the client for an API with no auth and for
each auth type (secret cached by the store, OAuth2 token cached by its manager;
the order of the APIs is interleaved in blocks so drift hits all alike), then the
number of token-endpoint requests during a 1,000-call OAuth2 run (counted both by
the npm oauth2-mock-server and by the sidecar's token manager), and the number of
Vault requests during a 1,000-call run of an API whose key is a ``vault://``
reference (counted by OpenBao's own audit log).
"""

from __future__ import annotations

import argparse
import json
import tempfile

from custom_api_client import connect
from custom_api_sidecar.auth import ClientCredentials
from custom_api_sidecar.secrets import build_secret_store
from custom_api_sidecar.secrets.vault import VaultSettings
from tests._support.oauth2_server import OAuth2MockServer
from tests._support.openbao import ROOT_TOKEN, OpenBao
from tests._support.sidecar import start_sidecar

from ._load import Latency
from ._upstream import BenchUpstream

SECRETS = {"B_KEY": "bench-key-0123456789", "B_TOKEN": "bench-token-0123456789", "B_PASS": "bench-pass-012345"}
AUTH = {
    "none": "{type: none}",
    "api_key": '{type: api_key, config: {header_name: X-API-Key, key: "env://B_KEY"}}',
    "bearer_token": '{type: bearer_token, config: {token: "env://B_TOKEN"}}',
    "basic_auth": '{type: basic_auth, config: {username: bench, password: "env://B_PASS"}}',
    "custom_header": '{type: custom_header, config: {headers: [{name: X-Auth, value: "env://B_KEY"}]}}',
}


def config_text(upstream_url: str, token_url: str) -> str:
    auth = {
        **AUTH,
        "oauth2": f'{{type: oauth2, config: {{token_url: "{token_url}", client_id: bench, client_secret: "env://B_PASS"}}}}',
        "vault": '{type: api_key, config: {header_name: X-API-Key, key: "vault://kv/bench#key"}}',
    }
    return "apis:" + "".join(
        f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}"}}
    authentication: {value}
    endpoints: [{{name: get, method: GET, path: /item}}]
"""
        for name, value in auth.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="sequential calls per auth type (default 500)")
    parser.add_argument("--block", type=int, default=50, help="calls per API before switching to the next")
    args = parser.parse_args()

    upstream = BenchUpstream()
    issuer = OAuth2MockServer()
    bao = OpenBao()
    try:
        bao.enable_kv("kv", 2)
        bao.put("kv", "bench", {"key": "bench-vault-key-0123456789"}, 2)
        with tempfile.TemporaryDirectory() as tmp:
            store = build_secret_store(VaultSettings(address=bao.url, token=ROOT_TOKEN), environ=SECRETS)
            running = start_sidecar(config_text(upstream.url, issuer.token_url), f"{tmp}/s.sock", secret_store=store)
            try:
                result = measure(running, issuer, bao, args.calls, args.block)
            finally:
                running.stop()
    finally:
        bao.stop()
        issuer.stop()
        upstream.close()
    print(json.dumps(result, indent=2))


def measure(running, issuer: OAuth2MockServer, bao: OpenBao, calls: int, block: int) -> dict[str, object]:
    import time

    names = [*AUTH, "oauth2", "vault"]
    samples: dict[str, list[float]] = {name: [] for name in names}
    source = running.sidecar.authenticators["oauth2"]
    assert isinstance(source, ClientCredentials)
    with connect(running.unix_target) as conv:
        for name in names:  # warm up connections and caches
            for _ in range(50):
                getattr(conv.api, name).get().raise_for_status()
        done = 0
        while done < calls:
            n = min(block, calls - done)
            for name in names:
                op = getattr(conv.api, name).get
                for _ in range(n):
                    start = time.perf_counter()
                    op()
                    samples[name].append((time.perf_counter() - start) * 1e6)
            done += n
        hits_before, fetches_before = issuer.hits, source.fetches
        for _ in range(1000):
            conv.api.oauth2.get().raise_for_status()
        token_requests = {"oauth2_mock_server": issuer.hits - hits_before, "sidecar": source.fetches - fetches_before}
        vault_before = len(bao.audited_requests())
        for _ in range(1000):
            conv.api.vault.get().raise_for_status()
        vault_requests = len(bao.audited_requests()) - vault_before
    latency = {name: Latency(values).summary() for name, values in samples.items()}
    base = latency["none"]["p50_us"]
    return {
        "calls_per_auth_type": calls,
        "p50_us": {name: round(s["p50_us"]) for name, s in latency.items()},
        "p90_us": {name: round(s["p90_us"]) for name, s in latency.items()},
        "p50_overhead_vs_none_us": {name: round(s["p50_us"] - base) for name, s in latency.items()},
        "token_endpoint_requests_during_1000_oauth2_calls": token_requests,
        "token_endpoint_requests_total_incl_warmup": issuer.hits,
        "vault_requests_during_1000_vault_key_calls": vault_requests,
    }


if __name__ == "__main__":
    main()
