"""The secret store with its embedded sources (env://, file://), its config sections, the
``validate`` report, and a rotation picked up by a running sidecar without a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import time

import pytest

from custom_api_client import connect
from custom_api_client.proto.sidecar_pb2 import ErrorCode
from custom_api_sidecar.cli import main
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.errors import SidecarError
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.secrets import (
    EnvSource,
    Fetched,
    FileSource,
    SecretRef,
    SecretSettings,
    SecretStore,
    SecretUnavailable,
    build_secret_store,
    parse_reference,
)
from custom_api_sidecar.secrets.vault import VaultSettings
from tests._support.sidecar import start_sidecar
from tests._support.upstream import Upstream

# --- env:// and file:// ----------------------------------------------------------------------


def fetch(source: EnvSource | FileSource, text: str) -> str:
    return source.fetch(parse_reference(text)).value


def test_env_source() -> None:
    source = EnvSource({"CRM_KEY": "env-value", "EMPTY": ""})
    assert fetch(source, "env://CRM_KEY") == "env-value"
    with pytest.raises(SecretUnavailable, match=r"^env://MISSING: environment variable MISSING is not set$"):
        fetch(source, "env://MISSING")
    with pytest.raises(SecretUnavailable, match="EMPTY is empty"):
        fetch(source, "env://EMPTY")


def test_file_source_strips_one_trailing_newline(tmp_path: pathlib.Path) -> None:
    (tmp_path / "key").write_text("file-value\n")
    (tmp_path / "two").write_text("file-value\n\n")
    (tmp_path / "crlf").write_bytes(b"file-value\r\n")
    source = FileSource()
    assert fetch(source, f"file://{tmp_path}/key") == "file-value"
    assert fetch(source, f"file://{tmp_path}/two") == "file-value\n"
    assert fetch(source, f"file://{tmp_path}/crlf") == "file-value"


def test_file_source_fields_from_json_and_yaml(tmp_path: pathlib.Path) -> None:
    (tmp_path / "creds.json").write_text(json.dumps({"client_id": "crm-app", "client_secret": "json-secret", "n": 7}))
    (tmp_path / "creds.yaml").write_text("client_id: crm-app\nclient_secret: yaml-secret\n")
    source = FileSource()
    assert fetch(source, f"file://{tmp_path}/creds.json#client_secret") == "json-secret"
    assert fetch(source, f"file://{tmp_path}/creds.json#n") == "7"
    assert fetch(source, f"file://{tmp_path}/creds.yaml#client_secret") == "yaml-secret"
    with pytest.raises(
        SecretUnavailable, match=r"field 'nope' not found in file .* \(fields: client_id, client_secret\)"
    ):
        fetch(source, f"file://{tmp_path}/creds.yaml#nope")


@pytest.mark.parametrize(
    ("name", "content", "field", "message"),
    [
        ("absent", None, "", "does not exist"),
        ("empty", "", "", "is empty"),
        ("bad.json", '{"token": "json-leak-canary", ', "#token", "is not valid JSON"),
        ("bad.yaml", "token: [yaml-leak-canary", "#token", "is not valid YAML"),
        ("list.yaml", "- a\n- b\n", "#token", "is not a mapping"),
        ("nested.yaml", "token: {a: 1}\n", "#token", "is not a string or number"),
        ("dir", "<dir>", "", "is a directory"),
    ],
)
def test_file_source_errors_name_the_problem_never_the_content(
    tmp_path: pathlib.Path, name: str, content: str | None, field: str, message: str
) -> None:
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    text = f"file://{path}{field}"
    with pytest.raises(SecretUnavailable) as info:
        fetch(FileSource(), text)
    assert message in str(info.value) and str(info.value).startswith(text)
    assert "canary" not in str(info.value)


# --- the store's cache, versions and staleness (pure logic: an in-memory source) ----------------


class MemorySource:
    """A source whose values the test sets; ``down`` makes every fetch fail."""

    def __init__(self, values: dict[str, str], lease: float | None = None) -> None:
        self.values = values
        self.lease = lease
        self.down = False
        self.fetches = 0

    async def start(self) -> None:
        pass

    def fetch(self, ref: SecretRef) -> Fetched:
        self.fetches += 1
        if self.down:
            raise SecretUnavailable(f"{ref.text}: the source is down")
        if ref.location not in self.values:
            raise SecretUnavailable(f"{ref.text}: no such key")
        return Fetched(self.values[ref.location], self.lease)

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def memory_store(source: MemorySource, clock: Clock, **settings: float) -> SecretStore:
    return SecretStore({"env": source}, SecretSettings(**settings), clock=clock)


async def test_values_versions_and_staleness() -> None:
    source, clock = MemorySource({"A": "one"}), Clock()
    store = memory_store(source, clock, refresh_interval=10, max_staleness=60, retry_interval=5)
    ref = parse_reference("env://A")
    store.register(ref)
    await store.start()
    try:
        assert (store.get(ref), store.version(ref)) == ("one", 1)
        clock.now += 10
        await store.refresh_due()
        assert store.version(ref) == 1  # the same value read again is not a new version
        source.values["A"] = "two"
        clock.now += 10
        await store.refresh_due()
        assert (store.get(ref), store.version(ref)) == ("two", 2)

        source.down = True
        clock.now += 10
        await store.refresh_due()
        assert store.get(ref) == "two"  # the source is down: the last good value serves
        assert store.status()[0].ok and "serving the last good value" in store.status()[0].detail
        clock.now += 45  # 55 s since the last good read
        await store.refresh_due()
        assert store.get(ref) == "two"
        clock.now += 10  # 65 s: past max staleness
        with pytest.raises(SidecarError) as info:
            store.get(ref)
        assert info.value.code == ErrorCode.CREDENTIALS_UNAVAILABLE
        assert "'env://A'" in info.value.message and "maximum staleness of 60s" in info.value.message
        assert "two" not in info.value.message.replace("env://A", "")
        assert not store.status()[0].ok

        source.down = False
        await store.refresh_due()
        assert store.get(ref) == "two" and store.version(ref) == 2 and store.status()[0].detail == "resolved"
    finally:
        await store.aclose()


async def test_get_never_calls_the_source() -> None:
    source, clock = MemorySource({"A": "one"}), Clock()
    store = memory_store(source, clock)
    ref = parse_reference("env://A")
    store.register(ref)
    await store.start()
    try:
        fetches = source.fetches
        for _ in range(1000):
            store.get(ref)
        assert source.fetches == fetches == 1
    finally:
        await store.aclose()


async def test_a_lease_shortens_the_refresh() -> None:
    source, clock = MemorySource({"A": "one"}, lease=30), Clock()
    store = memory_store(source, clock, refresh_interval=300)
    ref = parse_reference("env://A")
    store.register(ref)
    await store.start()
    try:
        clock.now += 19
        await store.refresh_due()
        assert source.fetches == 1
        clock.now += 1  # 2/3 of the 30 s lease
        await store.refresh_due()
        assert source.fetches == 2
    finally:
        await store.aclose()


async def test_unregistered_reference_fails_once_then_resolves_in_the_background() -> None:
    store = SecretStore({"env": MemorySource({"LATE": "late-value"})}, SecretSettings())
    await store.start()
    try:
        ref = parse_reference("env://LATE")
        with pytest.raises(SidecarError, match="'env://LATE' was not loaded at startup; it is being fetched now"):
            store.get(ref)
        deadline = time.monotonic() + 5
        while store.version(ref) == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert store.get(ref) == "late-value"
    finally:
        await store.aclose()


async def test_a_source_bug_is_reported_by_type_not_message(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemorySource):
        def fetch(self, ref: SecretRef) -> Fetched:
            raise RuntimeError("leaky-value-in-message")

    store = SecretStore({"env": Broken({})}, SecretSettings())
    ref = parse_reference("env://A")
    store.register(ref)
    await store.start()
    await store.aclose()
    assert store.status()[0].detail == "unexpected RuntimeError from the env:// source"
    with pytest.raises(SidecarError) as info:
        store.get(ref)
    assert "leaky-value-in-message" not in info.value.message


async def test_vault_reference_without_vault_is_a_clear_problem(caplog: pytest.LogCaptureFixture) -> None:
    store = build_secret_store(None, environ={})
    ref = parse_reference("vault://kv/crm#key")
    store.register(ref)
    with caplog.at_level(logging.WARNING):
        await store.start()
    await store.aclose()
    (status,) = store.status()
    assert not status.ok and status.detail.startswith("no Vault is configured for vault:// references")
    assert "secret vault://kv/crm#key does not resolve: no Vault is configured" in caplog.text


def test_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"secrets\.max_staleness must be a positive number of seconds"):
        SecretSettings(max_staleness=0)


# --- config sections and settings precedence ----------------------------------------------------

API = """
apis:
  - name: crm
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:9"}
    endpoints: [{name: ping, method: GET, path: /ping}]
"""


def test_vault_and_secrets_sections() -> None:
    config = parse_config(
        API
        + """
vault:
  address: https://vault.internal:8200
  namespace: team-a
  ca_cert: /etc/vault/ca.pem
  timeout_s: 3
  mounts: {kv: 2, legacy: 1}
  auth: {method: approle, mount: sidecar-approle, role_id: crm-sidecar, secret_id: "file:///run/vault/secret-id"}
secrets: {refresh_interval_s: 60, max_staleness_s: 600}
"""
    )
    assert config.vault == VaultSettings(
        address="https://vault.internal:8200",
        namespace="team-a",
        ca_cert="/etc/vault/ca.pem",
        timeout=3.0,
        mounts={"kv": 2, "legacy": 1},
        auth_method="approle",
        auth_mount="sidecar-approle",
        role_id="crm-sidecar",
        secret_id="file:///run/vault/secret-id",
    )
    assert config.secrets == SecretSettings(refresh_interval=60, max_staleness=600)
    assert parse_config(API).vault is None and parse_config(API).secrets == SecretSettings()


def test_bad_vault_and_secrets_sections_list_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            API
            + """
vault:
  address: vault.internal
  ca_cert: relative/ca.pem
  skip_verify: "yes"
  mounts: {kv: 3}
  token: hvs.CAESIJ1234567890abcdefghijklmnop
  auth: {method: ldap, role_id: sk_live_4eC39HqLyjWDarjtT1zdp7dc, secret_id: "vault://kv/x#y", jwt: some-literal}
secrets: {refresh_interval_s: 0, max_staleness: 5}
"""
        )
    text = str(info.value)
    for expected in (
        "vault.address: must be an http:// or https:// URL",
        "vault.ca_cert: must be an absolute path",
        "vault.skip_verify: must be true or false",
        "vault.mounts.kv: KV version must be 1 or 2, not 3",
        "vault.token: unknown field",
        "vault.auth.method: 'ldap' is not one of token, approle, kubernetes, jwt",
        "vault.auth.role_id: must be an env:// or file:// reference, not a literal secret",
        "vault.auth.secret_id: cannot be a vault:// reference",
        "vault.auth.jwt: must be an env:// or file:// reference",
        "secrets.refresh_interval_s: must be a positive number of seconds, not 0",
        "secrets.max_staleness: unknown field",
    ):
        assert expected in text
    assert "hvs.CAESIJ" not in text and "sk_live_" not in text


def test_flags_override_environment_override_config() -> None:
    config = VaultSettings(address="https://from-config:8200", namespace="config-ns", ca_cert="/config/ca.pem")
    env = VaultSettings.from_env(
        {"VAULT_ADDR": "https://from-env:8200", "VAULT_NAMESPACE": "env-ns", "VAULT_SKIP_VERIFY": "true"}
    )
    flags = VaultSettings(address="https://from-flag:8200")
    merged = VaultSettings.layered(flags, env, config)
    assert merged.address == "https://from-flag:8200"
    assert merged.namespace == "env-ns"
    assert merged.ca_cert == "/config/ca.pem"
    assert merged.skip_verify is True
    assert VaultSettings.layered(None, VaultSettings.from_env({}), None).configured is False


# --- validate ---------------------------------------------------------------------------------


def auth_config(key: str, path: str = "/ping") -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:9"}}
    authentication: {{type: api_key, config: {{header_name: X-API-Key, key: "{key}"}}}}
    endpoints: [{{name: ping, method: GET, path: {path}}}]
"""


def run_validate(tmp_path: pathlib.Path, text: str, *args: str) -> int:
    config = tmp_path / "sidecar.yaml"
    config.write_text(text)
    return main(["validate", str(config), *args])


def test_validate_resolves_references(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CRM_KEY_SANDBOX", "validate-canary-value")
    assert run_validate(tmp_path, auth_config("env://CRM_KEY_{environment}")) == 0
    out = capsys.readouterr().out
    assert "secrets: 1 of 1 references resolve" in out and "ok   env://CRM_KEY_SANDBOX: resolved" in out
    assert "validate-canary-value" not in out


def test_validate_fails_on_an_unresolved_reference(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CRM_KEY_LIVE", raising=False)
    assert run_validate(tmp_path, auth_config("env://CRM_KEY_{environment}"), "--environment", "live") == 1
    out = capsys.readouterr().out
    assert "FAIL env://CRM_KEY_LIVE: environment variable CRM_KEY_LIVE is not set" in out


def test_validate_without_vault_settings_fails_a_vault_reference(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    assert run_validate(tmp_path, auth_config("vault://kv/crm#key")) == 1
    assert "FAIL vault://kv/crm#key: no Vault is configured" in capsys.readouterr().out


def test_validate_offline_does_not_contact_vault(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    assert run_validate(tmp_path, auth_config("vault://kv/crm#key"), "--offline") == 0
    assert "ok   vault://kv/crm#key: not checked (--offline)" in capsys.readouterr().out


def test_validate_reports_bad_vault_settings(tmp_path, capsys) -> None:
    code = run_validate(
        tmp_path, auth_config("vault://kv/crm#key"), "--vault-addr", "http://127.0.0.1:9", "--vault-auth-method", "jwt"
    )
    assert code == 1
    assert "Vault jwt auth needs a role" in capsys.readouterr().err


# --- a running sidecar picks up a rotated secret ------------------------------------------------


def test_running_sidecar_uses_a_rotated_file_secret_without_restart(upstream: Upstream, tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "crm-key"
    key_file.write_text("first-key\n")
    config = auth_config(f"file://{key_file}", path="/echo/crm") + "secrets: {refresh_interval_s: 0.2}\n"
    running = start_sidecar(config.replace("http://127.0.0.1:9", upstream.url), str(tmp_path / "s.sock"))
    try:
        with connect(running.unix_target) as conv:

            def sent_key() -> str:
                response = conv.api.crm.ping()
                assert response.status_code == 200  # no call fails while the key rotates
                # The echo shows the agent REDACTED; what was sent is what the upstream received.
                assert {k.lower(): v for k, v in response.json()["headers"]}["x-api-key"] == "REDACTED"
                return {k.lower(): v for k, v in upstream.last()["headers"]}["x-api-key"]

            assert sent_key() == "first-key"
            key_file.write_text("second-key\n")
            deadline = time.monotonic() + 5
            while (key := sent_key()) != "second-key":
                assert key == "first-key" and time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        running.stop()
