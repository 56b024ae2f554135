"""Compression bombs and broken encodings from a hostile server (tests/_support/hostile_upstream.py),
driven through a real ``serve`` process: as an upstream API (Invoke via the client), an OAuth2 token
endpoint, an OpenAPI spec (a config reload) and a Vault server. Each bomb holds 200 MiB of zeros;
the process's resident-memory high-water mark (/proc VmHWM, reset before each case) must grow by
far less than that. Plus a too-large secret in a real OpenBao, and hvac against the hostile Vault."""

from __future__ import annotations

import asyncio
import pathlib
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from custom_api_client import connect, errors
from custom_api_sidecar.openapi import SpecError, import_spec
from custom_api_sidecar.secrets import SecretSettings, build_secret_store, parse_reference
from custom_api_sidecar.secrets.vault import VaultSettings
from custom_api_sidecar.secrets.vault._bounded import MAX_ANSWER_BYTES, AnswerTooLarge, bounded_session
from tests._support.hostile_upstream import BOMB_SIZE, JSON_BODY, HostileUpstream, encoded_ok
from tests._support.memory import MB, peak, reset_peak
from tests._support.openbao import ROOT_TOKEN, OpenBao
from tests._support.processes import SidecarProcess

LIMIT = 1024 * 1024  # max_response_bytes of the hostile API
BOUND = 40 * MB  # growth of the sidecar's peak RSS allowed for a 200 MiB bomb
SPEC_LIMIT = 25 * 1024 * 1024  # the spec fetcher's default max_bytes


def config(url: str) -> str:
    return f"""
apis:
  - name: hostile
    connection: {{allow_http: true, private_network: true, base_url: "{url}", timeout_ms: 20000,
                  circuit_breaker: {{enabled: false}}}}
    security: {{max_response_bytes: {LIMIT}}}
    endpoints:
      - {{name: ok, method: GET, path: "/ok/{{coding}}"}}
      - {{name: bomb, method: GET, path: "/bomb/{{kind}}"}}
      - {{name: stacked, method: GET, path: "/stacked/{{n}}"}}
      - {{name: garbage_after_gzip, method: GET, path: /garbage-after-gzip}}
      - {{name: truncated_gzip, method: GET, path: /truncated-gzip}}
  - name: tokens
    connection: {{allow_http: true, private_network: true, base_url: "{url}/ok/gzip", timeout_ms: 20000}}
    authentication:
      type: oauth2
      config: {{token_url: "{url}/token/bomb", client_id: c, client_secret: "env://HOSTILE_CLIENT_SECRET",
                timeout_ms: 20000}}
    endpoints: [{{name: get, method: GET, path: /x}}]
"""


SPEC_API = """
  - name: spec_bomb
    connection: {{allow_http: true, private_network: true, base_url: "{url}"}}
    openapi: {{spec: "{url}/spec/bomb.yaml", allow_private_network: true, allow_http: true}}
"""


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sidecar(hostile: HostileUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    directory = tmp_path_factory.mktemp("hostile")
    (directory / "apis.yaml").write_text(config(hostile.url))
    process = SidecarProcess(
        directory / "apis.yaml",
        directory / "s.sock",
        extra_args=["--jobs-db", str(directory / "jobs.db")],
        env={"HOSTILE_CLIENT_SECRET": "hostile-secret"},
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def conv(sidecar: SidecarProcess):
    with connect(sidecar.target) as c:
        yield c


def growth_during(pid: int, action: Callable[[], None]) -> int:
    """How far the process's peak RSS rose above its RSS while ``action`` ran."""
    baseline = reset_peak(pid)
    action()
    return peak(pid) - baseline


# --- honest encodings still decode ------------------------------------------------------------------


@pytest.mark.parametrize(
    "coding", ["gzip", "x-gzip", "deflate", "raw-deflate", "gzip-gzip", "deflate-gzip", "gzip-members"]
)
def test_every_decoded_coding_reaches_the_agent_decoded(conv, hostile: HostileUpstream, coding: str) -> None:
    r = conv.api.hostile.ok(coding)
    assert r.status_code == 200 and r.json() == JSON_BODY
    assert hostile.seen[-1][2] == "gzip, deflate"  # what the sidecar advertises: what it decodes


def test_a_coding_we_do_not_decode_is_passed_on_as_received(conv) -> None:
    r = conv.api.hostile.ok("br")
    assert r.content == encoded_ok("br")[1]
    assert r.headers["content-encoding"] == "br"


# --- bombs as upstream responses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["double-gzip", "gzip", "deflate", "raw-deflate", "lying-length", "no-length", "huge-length"]
)
def test_a_bomb_is_refused_with_bounded_memory(conv, sidecar: SidecarProcess, kind: str) -> None:
    def call() -> None:
        with pytest.raises(errors.ResponseTooLarge, match=f"exceeds the {LIMIT}-byte limit"):
            conv.api.hostile.bomb(kind)

    grew = growth_during(sidecar.process.pid, call)
    assert grew < BOUND, f"{kind}: peak RSS grew {grew / MB:.1f} MB for a {BOMB_SIZE // 2**20} MiB bomb"
    assert conv.api.hostile.ok("gzip").json() == JSON_BODY  # and the sidecar carries on


def test_more_than_two_stacked_codings_are_refused(conv) -> None:
    assert conv.api.hostile.stacked(2).json() == JSON_BODY
    with pytest.raises(errors.UpstreamProtocolError, match="Content-Encoding stacks 3 codings; at most 2 are decoded"):
        conv.api.hostile.stacked(3)
    with pytest.raises(errors.UpstreamProtocolError, match="stacks 12 codings"):
        conv.api.hostile.stacked(12)


def test_a_truncated_gzip_body_is_an_error_not_a_short_body(conv) -> None:
    with pytest.raises(errors.UpstreamProtocolError, match=r"the gzip data ends early \(truncated\)"):
        conv.api.hostile.truncated_gzip()


def test_garbage_after_the_gzip_member_is_not_read(conv, hostile: HostileUpstream) -> None:
    """The server keeps sending garbage after a complete gzip member (for up to 60 s or 256 MiB):
    the body is the member's, and the sidecar stops reading at once and hangs up."""
    before = len(hostile.garbage_sent)
    started = time.monotonic()
    r = conv.api.hostile.garbage_after_gzip()
    assert r.json() == JSON_BODY
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 10
    while len(hostile.garbage_sent) == before:
        assert time.monotonic() < deadline, "the sidecar never hung up"
        time.sleep(0.05)
    assert hostile.garbage_sent[-1] < 64 * 1024 * 1024  # what the socket buffers took, not the stream


# --- a bomb as an OAuth2 token answer ---------------------------------------------------------------


def test_a_token_endpoint_bomb_fails_authentication_with_bounded_memory(
    conv, sidecar: SidecarProcess, hostile: HostileUpstream
) -> None:
    """The token endpoint answered 503 since startup; armed, it answers the bomb to the call's own
    fetch and to the background refresher's retries, all while the peak is measured."""

    def bomb_the_token_fetches() -> None:
        hostile.arm("token")
        deadline = time.monotonic() + 30
        while True:  # a call within a second of a failed fetch gets that failure (503) again
            with pytest.raises(errors.AuthenticationFailed) as caught:
                conv.api.tokens.get()
            if "answered with more than 262144 bytes" in str(caught.value):
                return
            assert "answered HTTP 503" in str(caught.value)
            assert time.monotonic() < deadline, str(caught.value)
            time.sleep(0.2)

    grew = growth_during(sidecar.process.pid, bomb_the_token_fetches)
    assert grew < BOUND, f"peak RSS grew {grew / MB:.1f} MB"
    assert {accept for _, path, accept in hostile.seen if path == "/token/bomb"} == {"gzip, deflate"}
    assert "hostile-secret" not in sidecar.output


# --- a bomb as an OpenAPI spec (a config reload) ----------------------------------------------------


def test_a_spec_bomb_is_refused_by_a_reload_with_bounded_memory(
    sidecar: SidecarProcess, hostile: HostileUpstream, conv
) -> None:
    path = pathlib.Path(sidecar.process.args[sidecar.process.args.index("--config") + 1])
    original = path.read_text()
    expected = f"spec/bomb.yaml: is over the {SPEC_LIMIT}-byte limit"

    def reload() -> None:
        path.write_text(original + SPEC_API.format(url=hostile.url))
        sidecar.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while expected not in sidecar.output:
            assert time.monotonic() < deadline, sidecar.output[-3000:]
            time.sleep(0.05)

    try:
        grew = growth_during(sidecar.process.pid, reload)
    finally:
        path.write_text(original)
    # The decoded spec is held up to the limit (25 MiB), never the bomb's 200 MiB.
    assert grew < SPEC_LIMIT + 15 * MB, f"peak RSS grew {grew / MB:.1f} MB"
    assert "NOT reloaded" in sidecar.output
    assert conv.api.hostile.ok("gzip").json() == JSON_BODY  # still serving the previous config


def test_spec_fetches_decode_gzip_and_refuse_bombs(hostile: HostileUpstream) -> None:
    honest = import_spec(f"{hostile.url}/spec/ok.json", name="x", allow_private_network=True, allow_http=True)
    assert [e["name"] for e in honest.api["endpoints"]] == ["list_items"]
    assert hostile.seen[-1][2] == "gzip, deflate"
    with pytest.raises(SpecError, match=f"is over the {1024 * 1024}-byte limit"):
        import_spec(
            f"{hostile.url}/spec/bomb.yaml",
            name="x",
            allow_private_network=True,
            allow_http=True,
            max_bytes=1024 * 1024,
        )
    with pytest.raises(SpecError, match="cannot decode the response: Content-Encoding stacks 3 codings"):
        import_spec(f"{hostile.url}/stacked/3", name="x", allow_private_network=True, allow_http=True)
    assert hostile.seen[-1][2] == "gzip, deflate"


# --- Vault ------------------------------------------------------------------------------------------


def test_hvacs_session_decodes_what_it_must_and_refuses_bombs(hostile: HostileUpstream) -> None:
    """The session the Vault source gives hvac, against the hostile server's routes directly."""
    session = bounded_session(True, None)
    try:
        assert session.get(f"{hostile.url}/ok/gzip-gzip", timeout=10).json() == JSON_BODY
        assert hostile.seen[-1][2] == "identity"
        with pytest.raises(AnswerTooLarge, match=f"over the {MAX_ANSWER_BYTES}-byte limit"):
            session.get(f"{hostile.url}/bomb/double-gzip", timeout=10)
        with pytest.raises(requests.exceptions.ContentDecodingError, match="stacks 3 codings"):
            session.get(f"{hostile.url}/stacked/3", timeout=10)
        with pytest.raises(requests.exceptions.ContentDecodingError, match="ends early"):
            session.get(f"{hostile.url}/truncated-gzip", timeout=10)
        assert session.get(f"{hostile.url}/garbage-after-gzip", timeout=10).json() == JSON_BODY
    finally:
        session.close()


def test_a_vault_bomb_is_refused_with_bounded_memory(hostile: HostileUpstream, tmp_path: pathlib.Path) -> None:
    """A serve process whose Vault (the hostile server) answers every request with a gzip bomb
    although the sidecar asked for identity: the secret is unavailable, memory stays bounded."""
    (tmp_path / "apis.yaml").write_text(
        """
secrets: {retry_interval_s: 0.5}
apis:
  - name: crm
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:9"}
    authentication: {type: api_key, config: {header_name: X-API-Key, key: "vault://kv/crm#key"}}
    endpoints: [{name: ping, method: GET, path: /ping}]
"""
    )
    process = SidecarProcess(
        tmp_path / "apis.yaml",
        tmp_path / "s.sock",
        extra_args=["--jobs-db", str(tmp_path / "jobs.db")],
        env={"VAULT_ADDR": hostile.url, "VAULT_TOKEN": "hostile-vault-token"},
    )
    try:

        def bomb_the_vault_reads() -> None:  # the store retries every 0.5 s: three bombs in a row
            hostile.arm("vault")
            seen = len(hostile.seen)
            deadline = time.monotonic() + 20
            while sum(1 for _, path, _ in hostile.seen[seen:] if path.startswith("/v1/")) < 3:
                assert time.monotonic() < deadline, process.output[-3000:]
                time.sleep(0.05)
            time.sleep(0.3)  # let the third answer be read

        grew = growth_during(process.process.pid, bomb_the_vault_reads)
        assert grew < BOUND, f"peak RSS grew {grew / MB:.1f} MB"
        with (
            connect(process.target) as c,
            pytest.raises(
                errors.CredentialsUnavailable, match=f"Vault's answer is over the {MAX_ANSWER_BYTES}-byte limit"
            ),
        ):
            c.api.crm.ping()
        vault_requests = [accept for _, path, accept in hostile.seen if path.startswith("/v1/")]
        assert vault_requests and set(vault_requests) == {"identity"}
        assert "hostile-vault-token" not in process.output
    finally:
        process.stop()


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    server = OpenBao()
    server.enable_kv("kv", 2)
    yield server
    server.stop()


async def test_a_secret_over_the_vault_answer_limit_is_refused_by_a_real_openbao(bao: OpenBao) -> None:
    bao.put("kv", "small", {"key": "small-value"}, 2)
    bao.put("kv", "huge", {"key": "x" * (MAX_ANSWER_BYTES + 1024)}, 2)  # OpenBao accepts up to 32 MiB
    store = build_secret_store(VaultSettings(address=bao.url, token=ROOT_TOKEN), SecretSettings(), environ={})
    small, huge = parse_reference("vault://kv/small#key"), parse_reference("vault://kv/huge#key")
    store.register(small)
    store.register(huge)
    try:
        await store.start()
        assert store.get(small) == "small-value"
        status = {s.text: (s.ok, s.detail) for s in store.status()}
        assert status[huge.text][0] is False
        assert f"Vault's answer is over the {MAX_ANSWER_BYTES}-byte limit" in status[huge.text][1]
        await asyncio.sleep(0)  # the store keeps working after the refusal
        assert store.get(small) == "small-value"
    finally:
        await store.aclose()
