"""The vault:// source against a real OpenBao dev server (Vault API), with the real hvac client."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from custom_api_client.proto.sidecar_pb2 import ErrorCode
from custom_api_sidecar.errors import SidecarError
from custom_api_sidecar.secrets import SecretSettings, SecretStore, build_secret_store, parse_reference
from custom_api_sidecar.secrets.vault import VaultSettings, VaultSource
from tests._support.openbao import ROOT_TOKEN, OpenBao, rsa_key_pair, service_account_jwt

READER = 'path "kv/*" { capabilities = ["read"] }\npath "legacy/*" { capabilities = ["read"] }'


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    server = OpenBao()
    server.enable_kv("kv", 2)
    server.enable_kv("legacy", 1)
    server.policy("reader", READER)
    server.put("kv", "crm", {"key": "v2-crm-key", "client_secret": "v2-client-secret", "pin": 1234}, 2)
    server.put("legacy", "crm", {"key": "v1-crm-key"}, 1)
    yield server
    server.stop()


def store_for(settings: VaultSettings, environ: dict[str, str] | None = None, **secret_settings: float) -> SecretStore:
    return build_secret_store(settings, SecretSettings(**secret_settings), environ=environ or {})


def vault_source(store: SecretStore) -> VaultSource:
    source = store._sources["vault"]
    assert isinstance(source, VaultSource)
    return source


@pytest.fixture
async def root_store(bao: OpenBao) -> AsyncIterator[SecretStore]:
    store = store_for(VaultSettings(address=bao.url, token=ROOT_TOKEN))
    yield store
    await store.aclose()


def refs(*texts: str) -> list:
    return [parse_reference(text) for text in texts]


def status_of(store: SecretStore) -> dict[str, tuple[bool, str]]:
    return {status.text: (status.ok, status.detail) for status in store.status()}


# --- KV v1 / v2 ---------------------------------------------------------------------------


async def test_kv_v2_and_v1_versions_detected(root_store: SecretStore) -> None:
    v2, v1, pin = refs("vault://kv/crm#key", "vault://legacy/crm#key", "vault://kv/crm#pin")
    for ref in (v2, v1, pin):
        root_store.register(ref)
    await root_store.start()
    assert (root_store.get(v2), root_store.get(v1), root_store.get(pin)) == ("v2-crm-key", "v1-crm-key", "1234")
    assert root_store.version(v2) == 1
    assert all(ok for ok, _ in status_of(root_store).values())
    assert vault_source(root_store)._kv._versions == {"kv": 2, "legacy": 1}


async def test_kv_versions_from_settings(bao: OpenBao) -> None:
    store = store_for(VaultSettings(address=bao.url, token=ROOT_TOKEN, mounts={"kv": 2, "legacy": 1}))
    v2, v1 = refs("vault://kv/crm#client_secret", "vault://legacy/crm#key")
    store.register(v2)
    store.register(v1)
    await store.start()
    try:
        assert (store.get(v2), store.get(v1)) == ("v2-client-secret", "v1-crm-key")
    finally:
        await store.aclose()


async def test_missing_field_path_and_mount_name_the_reference(root_store: SecretStore) -> None:
    field, path, mount = refs("vault://kv/crm#nope", "vault://kv/absent#key", "vault://nomount/crm#key")
    for ref in (field, path, mount):
        root_store.register(ref)
    await root_store.start()
    status = status_of(root_store)
    assert status[field.text] == (False, "field 'nope' not found in the Vault secret (fields: client_secret, key, pin)")
    assert status[path.text][0] is False and "not found (404)" in status[path.text][1]
    assert status[mount.text][0] is False
    assert status[mount.text][1].startswith("no secrets engine at 'nomount' that this token may read (403)")
    for ref in (field, path, mount):
        with pytest.raises(SidecarError) as info:
            root_store.get(ref)
        assert info.value.code == ErrorCode.CREDENTIALS_UNAVAILABLE
        assert ref.text in info.value.message
        assert "v2-crm-key" not in info.value.message


async def test_namespace(bao: OpenBao) -> None:
    bao.root.sys.create_namespace("team-a")
    bao.enable_kv("kv", 2, namespace="team-a")
    bao.put("kv", "crm", {"key": "team-a-key"}, 2, namespace="team-a")
    store = store_for(VaultSettings(address=bao.url, token=ROOT_TOKEN, namespace="team-a"))
    (ref,) = refs("vault://kv/crm#key")
    store.register(ref)
    await store.start()
    try:
        assert store.get(ref) == "team-a-key"  # the root namespace's kv/crm holds a different key
    finally:
        await store.aclose()


# --- auth methods ---------------------------------------------------------------------------


async def resolve_one(store: SecretStore, text: str = "vault://kv/crm#key") -> str:
    ref = parse_reference(text)
    store.register(ref)
    await store.start()
    try:
        return store.get(ref)
    finally:
        await store.aclose()


async def test_token_from_file(bao: OpenBao, tmp_path: pathlib.Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(bao.token(["reader"]) + "\n")
    store = store_for(VaultSettings(address=bao.url, token_file=str(token_file)))
    assert await resolve_one(store) == "v2-crm-key"
    assert vault_source(store).auth.description == f"token from {token_file}"


async def test_token_from_home_vault_token(
    bao: OpenBao, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".vault-token").write_text(bao.token(["reader"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    store = store_for(VaultSettings(address=bao.url))
    assert await resolve_one(store, "vault://legacy/crm#key") == "v1-crm-key"


async def test_a_denied_read_is_reported_without_logging_in_again(bao: OpenBao) -> None:
    bao.policy("kv-only", 'path "kv/*" { capabilities = ["read"] }')
    bao.enable_kv("private", 2)
    bao.put("private", "x", {"key": "private-value"}, 2)
    # The mount's version is configured: a token that may not read it cannot detect it either.
    store = store_for(VaultSettings(address=bao.url, token=bao.token(["kv-only"]), mounts={"private": 2}))
    (ref,) = refs("vault://private/x#key")
    store.register(ref)
    await store.start()
    try:
        ok, detail = status_of(store)[ref.text]
        assert not ok and "permission denied (403)" in detail
        assert vault_source(store).logins == 1
    finally:
        await store.aclose()


async def test_approle_with_role_id_from_env_and_secret_id_from_file(bao: OpenBao, tmp_path: pathlib.Path) -> None:
    role_id, secret_id = bao.enable_approle("sidecar", ["reader"])
    (tmp_path / "secret-id").write_text(secret_id + "\n")
    settings = VaultSettings(
        address=bao.url,
        auth_method="approle",
        role_id="env://VAULT_ROLE_ID",
        secret_id=f"file://{tmp_path}/secret-id",
    )
    store = store_for(settings, environ={"VAULT_ROLE_ID": role_id})
    assert await resolve_one(store) == "v2-crm-key"
    assert vault_source(store).logins == 1


async def test_failed_login_is_reported_by_reference(bao: OpenBao, tmp_path: pathlib.Path, caplog) -> None:
    role_id, _ = bao.enable_approle("sidecar-bad", ["reader"])
    (tmp_path / "secret-id").write_text("not-the-secret-id")
    settings = VaultSettings(
        address=bao.url, auth_method="approle", role_id=role_id, secret_id=f"file://{tmp_path}/secret-id"
    )
    store = store_for(settings)
    (ref,) = refs("vault://kv/crm#key")
    store.register(ref)
    with caplog.at_level(logging.DEBUG):
        await store.start()
    try:
        ok, detail = status_of(store)[ref.text]
        assert not ok and detail.startswith("Vault login (approle at auth/approle) failed: invalid request (400)")
        with pytest.raises(SidecarError, match="vault://kv/crm#key"):
            store.get(ref)
        assert "not-the-secret-id" not in caplog.text
    finally:
        await store.aclose()


def test_literal_approle_secret_id_is_refused(bao: OpenBao) -> None:
    settings = VaultSettings(address=bao.url, auth_method="approle", role_id="r", secret_id="s3cr3t-literal")
    with pytest.raises(ValueError, match="secret_id must be an env:// or file:// reference") as info:
        store_for(settings)
    assert "s3cr3t-literal" not in str(info.value)


@pytest.fixture(scope="module")
def signing_key(bao: OpenBao) -> bytes:
    """A test RSA key; OpenBao's jwt method at auth/jwt and auth/k8s trusts its public half."""
    private, public = rsa_key_pair()
    bao.enable_jwt(public, role="sidecar", policies=["reader"], audience="vault", mount="jwt")
    bao.enable_jwt(public, role="sidecar", policies=["reader"], audience="vault", mount="k8s")
    return private


async def test_jwt_auth_with_a_service_account_token(bao: OpenBao, signing_key: bytes, tmp_path: pathlib.Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(service_account_jwt(signing_key, audience="vault", subject="system:serviceaccount:a:b"))
    settings = VaultSettings(address=bao.url, auth_method="jwt", role="sidecar", jwt=f"file://{token_file}")
    store = store_for(settings)
    assert await resolve_one(store) == "v2-crm-key"
    assert vault_source(store).auth.description == "jwt role 'sidecar' at auth/jwt"


async def test_kubernetes_auth_code_path(bao: OpenBao, signing_key: bytes, tmp_path: pathlib.Path) -> None:
    """No Kubernetes API server runs here to review tokens, so the kubernetes method logs in
    against a jwt method mounted at auth/k8s: the login request (role + service account JWT
    to auth/<mount>/login) is the same, and the JWT is really verified."""
    token_file = tmp_path / "token"
    token_file.write_text(service_account_jwt(signing_key, audience="vault", subject="system:serviceaccount:a:b"))
    settings = VaultSettings(
        address=bao.url, auth_method="kubernetes", auth_mount="k8s", role="sidecar", jwt=f"file://{token_file}"
    )
    assert await resolve_one(store_for(settings)) == "v2-crm-key"


async def test_kubernetes_auth_reads_the_pod_service_account_token_by_default(bao: OpenBao) -> None:
    store = store_for(VaultSettings(address=bao.url, auth_method="kubernetes", role="sidecar"))
    (ref,) = refs("vault://kv/crm#key")
    store.register(ref)
    await store.start()
    try:
        ok, detail = status_of(store)[ref.text]
        assert not ok
        assert "file:///var/run/secrets/kubernetes.io/serviceaccount/token" in detail
    finally:
        await store.aclose()


# --- rotation, renewal, re-login ------------------------------------------------------------


async def wait_until(predicate, timeout: float, every: float = 0.02, check=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if check is not None:
            check()
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(every)


async def test_rotation_is_picked_up_without_restart_or_failed_call(bao: OpenBao) -> None:
    bao.put("kv", "rotating", {"key": "first"}, 2)
    store = store_for(VaultSettings(address=bao.url, token=ROOT_TOKEN), refresh_interval=0.3)
    (ref,) = refs("vault://kv/rotating#key")
    store.register(ref)
    await store.start()
    try:
        assert store.get(ref) == "first"
        bao.put("kv", "rotating", {"key": "second"}, 2)
        seen = []
        # get() never fails meanwhile: each call returns the old or the new value.
        await wait_until(lambda: store.get(ref) == "second", 3, check=lambda: seen.append(store.get(ref)))
        assert set(seen) <= {"first", "second"}
        assert store.version(ref) == 2
        assert store.refresh_failures == 0
    finally:
        await store.aclose()


async def test_token_is_renewed_before_its_ttl_runs_out(bao: OpenBao) -> None:
    token = bao.token(["reader"], ttl="3s", explicit_max_ttl="1h")
    store = store_for(VaultSettings(address=bao.url, token=token), refresh_interval=0.5)
    (ref,) = refs("vault://kv/crm#key")
    store.register(ref)
    await store.start()
    try:
        source = vault_source(store)
        started = time.monotonic()
        # Past the original 3 s TTL with two renewals; the deadline leaves room for a loaded machine.
        while time.monotonic() - started < 4 or source.renewals < 2:
            assert store.get(ref) == "v2-crm-key"
            assert time.monotonic() - started < 15, f"only {source.renewals} renewals in 15 s"
            await asyncio.sleep(0.1)
        assert source.logins == 1  # renewed, never replaced
        assert store.refresh_failures == 0
        assert bao.root.auth.token.lookup(token)["data"]["ttl"] > 0
    finally:
        await store.aclose()


async def test_logs_in_again_when_the_token_reaches_its_max_ttl(bao: OpenBao) -> None:
    role_id, secret_id = bao.enable_approle("short", ["reader"], token_ttl="2s", token_max_ttl="3s")
    settings = VaultSettings(address=bao.url, auth_method="approle", role_id=role_id, secret_id="env://SECRET_ID")
    store = store_for(settings, environ={"SECRET_ID": secret_id}, refresh_interval=0.3)
    (ref,) = refs("vault://kv/crm#key")
    store.register(ref)
    await store.start()
    try:
        source = vault_source(store)
        await wait_until(lambda: source.logins >= 3, 8, check=lambda: store.get(ref))
        assert store.refresh_failures == 0
    finally:
        await store.aclose()


async def test_logs_in_again_after_the_token_is_revoked(bao: OpenBao) -> None:
    role_id, secret_id = bao.enable_approle("revoked", ["reader"])
    bao.put("kv", "after-revoke", {"key": "before"}, 2)
    settings = VaultSettings(address=bao.url, auth_method="approle", role_id=role_id, secret_id="env://SECRET_ID")
    store = store_for(settings, environ={"SECRET_ID": secret_id}, refresh_interval=0.3)
    (ref,) = refs("vault://kv/after-revoke#key")
    store.register(ref)
    await store.start()
    try:
        source = vault_source(store)
        assert source.logins == 1
        bao.root.sys.revoke_prefix("auth/approle/login")  # every token AppRole issued: Vault now answers 403
        bao.put("kv", "after-revoke", {"key": "after"}, 2)
        await wait_until(lambda: store.get(ref) == "after", 5)
        assert source.logins == 2
        assert store.refresh_failures == 0
    finally:
        await store.aclose()


# --- Vault down -------------------------------------------------------------------------------


async def test_vault_down_serves_cached_values_then_fails_past_max_staleness(caplog) -> None:
    server = OpenBao()
    reader = InMemoryMetricReader()
    try:
        server.put("secret", "crm", {"key": "cached-value-7f3a"}, 2)  # dev mode mounts KV v2 at secret/
        store = build_secret_store(
            VaultSettings(address=server.url, token=ROOT_TOKEN),
            SecretSettings(refresh_interval=0.2, retry_interval=0.2, max_staleness=2.0),
            environ={},
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
        (ref,) = refs("vault://secret/crm#key")
        store.register(ref)
        await store.start()
        last_good = time.monotonic()
        assert store.get(ref) == "cached-value-7f3a"
        server.stop()
        with caplog.at_level(logging.DEBUG):
            while time.monotonic() - last_good < 1.5:  # Vault down, inside max staleness: still served
                assert store.get(ref) == "cached-value-7f3a"
                await asyncio.sleep(0.05)
            assert store.refresh_failures >= 2
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING and ref.text in r.getMessage()]
            assert warnings and "serving the last good value" in warnings[0].getMessage()
            assert "cannot connect to Vault" in warnings[0].getMessage()
            await asyncio.sleep(max(0.0, last_good + 2.3 - time.monotonic()))
            with pytest.raises(SidecarError) as info:
                store.get(ref)
        assert info.value.code == ErrorCode.CREDENTIALS_UNAVAILABLE
        assert "vault://secret/crm#key" in info.value.message and "maximum staleness" in info.value.message
        assert "cached-value-7f3a" not in info.value.message
        assert "cached-value-7f3a" not in caplog.text
        assert status_of(store)[ref.text][0] is False
        failures = [
            point.value
            for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
            if metric.name == "custom_api_sidecar.secret.refresh_failures"
            for point in metric.data.data_points
        ]
        assert failures and failures[0] == store.refresh_failures
        await store.aclose()
    finally:
        server.stop()


# --- the hot path -------------------------------------------------------------------------------


async def test_get_makes_no_vault_requests(bao: OpenBao) -> None:
    store = store_for(VaultSettings(address=bao.url, token=ROOT_TOKEN))
    (ref,) = refs("vault://kv/crm#client_secret")
    store.register(ref)
    await store.start()
    try:
        before = len(bao.audited_requests())
        started = time.perf_counter()
        for _ in range(1000):
            assert store.get(ref) == "v2-client-secret"
        elapsed = time.perf_counter() - started
        during = len(bao.audited_requests()) - before
        print(f"\n1,000 get() calls: {during} Vault requests, {elapsed * 1e6 / 1000:.2f} us per get()")
        assert during == 0
        assert elapsed < 0.5
        assert bao.audited_requests()[-1]["path"] == "kv/data/crm"  # the audit log does see the start() read
    finally:
        await store.aclose()


# --- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_bao() -> Iterator[OpenBao]:
    server = OpenBao(tls=True)
    yield server
    server.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ca_cert": "CA"}, None),
        ({}, "TLS error talking to Vault at https://"),
        ({"skip_verify": True}, None),
    ],
    ids=["ca-file", "untrusted", "skip-verify"],
)
async def test_tls(tls_bao: OpenBao, settings: dict, expected: str | None, caplog) -> None:
    if settings.get("ca_cert"):
        settings = {**settings, "ca_cert": tls_bao.ca_cert}
    tls_bao.put("secret", "tls", {"key": "over-tls"}, 2)
    store = store_for(VaultSettings(address=tls_bao.url, token=ROOT_TOKEN, **settings))
    (ref,) = refs("vault://secret/tls#key")
    store.register(ref)
    with caplog.at_level(logging.WARNING):
        await store.start()
    try:
        if expected is None:
            assert store.get(ref) == "over-tls"
        else:
            ok, detail = status_of(store)[ref.text]
            assert not ok and expected in detail
        assert ("TLS verification of Vault" in caplog.text) == bool(settings.get("skip_verify"))
    finally:
        await store.aclose()


# --- validate against a real Vault -------------------------------------------------------------------


def test_validate_resolves_vault_references(bao: OpenBao, tmp_path: pathlib.Path, capsys, monkeypatch) -> None:
    from custom_api_sidecar.cli import main

    config = tmp_path / "sidecar.yaml"
    config.write_text(
        """
apis:
  - name: crm
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:9"}
    authentication: {type: api_key, config: {header_name: X-API-Key, key: "vault://kv/crm#key"}}
    endpoints: [{name: ping, method: GET, path: /ping}]
  - name: erp
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:9"}
    authentication: {type: bearer_token, config: {token: "vault://kv/{environment}/erp#token"}}
    endpoints: [{name: ping, method: GET, path: /ping}]
"""
    )
    monkeypatch.setenv("VAULT_TOKEN", bao.token(["reader"]))
    assert main(["validate", str(config), "--vault-addr", bao.url]) == 1
    out = capsys.readouterr().out
    assert "secrets: 1 of 2 references resolve" in out
    assert "ok   vault://kv/crm#key: resolved" in out
    assert "FAIL vault://kv/sandbox/erp#token: not found (404)" in out
    assert "v2-crm-key" not in out
    bao.put("kv", "sandbox/erp", {"token": "erp-token"}, 2)
    assert main(["validate", str(config), "--vault-addr", bao.url]) == 0
    assert "erp-token" not in capsys.readouterr().out
