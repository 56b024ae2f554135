"""Who the admin listener answers, through the real listener over raw sockets: only loopback Host
names (a DNS-rebound name gets 403 on every route), the bearer token when one is set (missing,
wrong, right, rotated, unreadable), and the security headers on every answer. The browser side
(a rebound name in real Chromium, the page asking for the token, no CSP violation) is in
tests/test_dashboard.py; the CLI flag in tests/test_admin_cli.py."""

from __future__ import annotations

import pathlib
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from custom_api_sidecar.admin import PAGE, AdminSettings
from custom_api_sidecar.admin_access import HostCheck
from custom_api_sidecar.metrics import make_metrics
from custom_api_sidecar.secrets import SecretSettings, build_secret_store, parse_reference
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

TOKEN = "admin-token-canary-3f9a1c"
ROUTES = ("/", "/metrics", "/api/apis", "/api/calls", "/api/calls?window=5m", "/no-such-route")
DATA_ROUTES = ROUTES[1:]
NEEDS_TOKEN = b"401 Unauthorized: this admin listener needs Authorization: Bearer <token> (--admin-token)\n"


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    endpoints: [{{name: ping, method: GET, path: /echo/ping}}]
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]  # lower-case names
    body: bytes

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), [])
        assert len(values) == 1, f"{name}: {values}"
        return values[0]


def ask(port: int, path: str = "/", *, host: str | None = "localhost", headers: dict[str, str] | None = None,
        raw_headers: bytes = b"", version: str = "1.1") -> Answer:  # fmt: skip
    """One HTTP request, written byte for byte (any Host, or none), and its answer."""
    lines = [f"GET {path} HTTP/{version}".encode()]
    if host is not None:
        lines.append(b"Host: " + host.encode("latin-1"))
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    request = b"\r\n".join(lines) + b"\r\n" + raw_headers + b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    return Answer(int(status_line.split()[1]), parsed, body)


def port_of(sidecar: ThreadedSidecar) -> int:
    assert sidecar.server.admin is not None
    return sidecar.server.admin.bound_port


@pytest.fixture(scope="module")
def open_admin(upstream) -> Iterator[ThreadedSidecar]:
    """No token: the Host check alone."""
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream), f"{tmp}/s.sock", admin=("127.0.0.1", 0), metrics=make_metrics(admin=True, env={})
        )
        yield sidecar
        sidecar.stop()


@pytest.fixture(scope="module")
def token_file(tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("admin-token") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def guarded(upstream, token_file) -> Iterator[ThreadedSidecar]:
    """A token from a file:// reference, re-read every second (rotation)."""
    store = build_secret_store(settings=SecretSettings(refresh_interval=1.0, retry_interval=1.0))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            admin=AdminSettings("127.0.0.1", 0, parse_reference(f"file://{token_file}")),
            metrics=make_metrics(admin=True, env={}),
            secret_store=store,
        )
        yield sidecar
        sidecar.stop()


# --- the Host check ---------------------------------------------------------------------

LOOPBACK_HOSTS = ["localhost", "localhost:9464", "LocalHost:1", "127.0.0.1", "127.0.0.1:80", "127.8.9.10:443",
                  "[::1]", "[::1]:9464", "[0:0:0:0:0:0:0:1]:1"]  # fmt: skip
FOREIGN_HOSTS = [
    "rebind.attacker.example",  # the DNS-rebinding case: the page's own name
    "rebind.attacker.example:9464",
    "localhost.attacker.example",
    "127.0.0.1.nip.io",
    "app.localhost",
    "localhost.",
    "192.0.2.10",  # another address (the listener is on loopback)
    "[::ffff:127.0.0.1]",
    "0.0.0.0",
    "2130706433",  # 127.0.0.1 as one number: a browser never sends it, a resolver might accept it
    "localhost:port",
    "localhost:123456",
    "localhost@attacker.example",
    "attacker.example#localhost",
    "[::1",
    "",
    "x" * 8000,  # the worst: as long as the server's header limit allows
]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_names_are_answered(open_admin, host):
    answer = ask(port_of(open_admin), "/api/apis", host=host)
    assert answer.status == 200, answer.body
    assert b'"crm"' in answer.body


@pytest.mark.parametrize("host", FOREIGN_HOSTS, ids=lambda h: h[:40] or "empty")
def test_a_foreign_host_gets_403_on_every_route(open_admin, host):
    for path in ROUTES:
        answer = ask(port_of(open_admin), path, host=host)
        assert answer.status == 403, (path, answer.status)
        assert answer.body.startswith(b"403 Forbidden: this admin listener answers only requests addressed to")
        assert b"DNS rebinding" in answer.body and len(answer.body) < 400  # says why, echoes nothing
        assert b'"crm"' not in answer.body and b"custom_api_sidecar" not in answer.body
        assert answer.header("X-Content-Type-Options") == "nosniff"


def test_no_host_or_two_hosts_get_403(open_admin):
    port = port_of(open_admin)
    assert ask(port, "/metrics", host=None, version="1.0").status == 403  # HTTP/1.0 may omit Host
    assert ask(port, "/metrics", host=None).status in (400, 403)  # HTTP/1.1 must not: the parser refuses it
    two = ask(port, "/metrics", host="localhost", raw_headers=b"Host: rebind.attacker.example\r\n")
    assert two.status in (400, 403)  # the parser may refuse it first; never 200
    assert b"custom_api_sidecar" not in two.body


def test_a_wildcard_listener_also_answers_ip_literals_never_names(upstream):
    """--allow-remote with 0.0.0.0: a scraper connecting to the pod IP sends that IP; a name stays refused."""
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(config(upstream), f"{tmp}/s.sock", admin=("0.0.0.0", 0))
        try:
            port = port_of(sidecar)
            assert ask(port, "/api/apis", host=f"192.0.2.10:{port}").status == 200
            assert ask(port, "/api/apis", host="[2001:db8::5]").status == 200
            assert ask(port, "/api/apis", host="localhost").status == 200
            assert ask(port, "/api/apis", host=f"rebind.attacker.example:{port}").status == 403
            assert ask(port, "/api/apis", host="sidecar.default.svc").status == 403
        finally:
            sidecar.stop()


def test_the_host_rules():
    """Pure logic: which Host values each listen address accepts (the listener itself is tested above)."""
    loopback = HostCheck("127.0.0.1")
    assert not loopback.any_address and loopback.listen_host == ""
    named = HostCheck("Admin.Internal")  # --allow-remote --admin-listen admin.internal:9464
    assert named.allows("admin.internal:9464") and named.allows("ADMIN.internal") and named.allows("localhost")
    assert not named.allows("admin.internal.attacker.example") and not named.allows("192.0.2.10")
    address = HostCheck("192.0.2.2")
    assert address.allows("192.0.2.2:9464") and not address.allows("192.0.2.3") and not address.allows("evil.example")
    v6 = HostCheck("[fd00::2]")
    assert v6.allows("[fd00::2]:9464") and not v6.allows("[fd00::3]")
    wildcard = HostCheck("::")
    assert wildcard.allows("[fd00::2]") and wildcard.allows("10.1.2.3:9464") and not wildcard.allows("evil.example")


# --- the bearer token -------------------------------------------------------------------


def test_without_a_token_every_data_route_is_401_with_a_bearer_challenge(guarded):
    for path in DATA_ROUTES:
        answer = ask(port_of(guarded), path)
        assert answer.status == 401, (path, answer.status)
        assert answer.header("WWW-Authenticate") == 'Bearer realm="custom-api-sidecar admin"'
        assert (
            answer.body
            == b"401 Unauthorized: this admin listener needs Authorization: Bearer <token> (--admin-token)\n"
        )


WRONG = [
    f"Bearer {TOKEN[:-1]}",  # one character short
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN.upper()}",
    "Bearer " + "A" * 7000,  # the worst length the server's header limit lets through
    f"Basic {TOKEN}",
    TOKEN,  # no scheme
    "Bearer",
    "Bearer ",
]


@pytest.mark.parametrize("authorization", WRONG, ids=lambda a: a[:30])
def test_a_wrong_token_is_401(guarded, authorization):
    for path in ("/metrics", "/api/apis"):
        answer = ask(port_of(guarded), path, headers={"Authorization": authorization})
        assert answer.status == 401
        assert answer.header("WWW-Authenticate").startswith('Bearer realm="custom-api-sidecar admin"')
        assert TOKEN.encode() not in answer.body and len(answer.body) < 200


def test_the_right_token_opens_every_route(guarded):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in ROUTES[:-1]:
        assert ask(port_of(guarded), path, headers=bearer).status == 200, path
    assert ask(port_of(guarded), "/no-such-route", headers=bearer).status == 404
    assert ask(port_of(guarded), "/api/apis", headers={"Authorization": f"bearer   {TOKEN}"}).status == 200
    metrics = ask(port_of(guarded), "/metrics", headers=bearer).body.decode()
    for path in ROUTES:  # the token is never shown, in any answer
        assert TOKEN not in ask(port_of(guarded), path, headers=bearer).body.decode()
    assert TOKEN not in metrics


def test_the_host_check_comes_before_the_token(guarded):
    """A rebound page learns nothing from the listener, not even that it wants a token."""
    answer = ask(
        port_of(guarded), "/api/apis", host="rebind.attacker.example", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status == 403 and "www-authenticate" not in answer.headers


def test_the_page_shell_needs_no_token_and_holds_no_data(guarded):
    """The browser fetches the page, then asks for the token; the page is the packaged file, byte for byte."""
    answer = ask(port_of(guarded), "/")
    assert answer.status == 200 and answer.body.decode() == PAGE
    assert b"crm" not in answer.body


def test_a_rotated_token_replaces_the_old_one(guarded, token_file):
    port = port_of(guarded)
    token_file.write_text("rotated-admin-token-77e2\n")
    try:
        deadline = time.monotonic() + 15
        while ask(port, "/metrics", headers={"Authorization": "Bearer rotated-admin-token-77e2"}).status != 200:
            assert time.monotonic() < deadline, "the rotated token was not picked up"
            time.sleep(0.2)
        assert ask(port, "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status == 401
    finally:
        token_file.write_text(TOKEN + "\n")
        deadline = time.monotonic() + 15
        while ask(port, "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_a_token_that_cannot_be_read_fails_closed(upstream):
    store = build_secret_store(environ={})  # env://ADMIN_TOKEN_UNSET is not set
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            admin=AdminSettings("127.0.0.1", 0, parse_reference("env://ADMIN_TOKEN_UNSET")),
            secret_store=store,
        )
        try:
            for authorization in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
                answer = ask(port_of(sidecar), "/api/apis", headers=authorization)
                assert answer.status == 503
                assert answer.body == b"503: the admin token could not be read; see the sidecar's log\n"
        finally:
            sidecar.stop()


# --- headers on every answer --------------------------------------------------------------


def test_every_answer_carries_the_security_headers(guarded):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    port = port_of(guarded)
    answers = [ask(port, path, headers=bearer) for path in ROUTES]
    answers += [ask(port, "/metrics"), ask(port, "/metrics", host="rebind.attacker.example")]  # 401 and 403 too
    for answer in answers:
        assert answer.header("X-Content-Type-Options") == "nosniff"
        assert answer.header("Referrer-Policy") == "no-referrer"
        assert answer.header("X-Frame-Options") == "DENY"
        assert answer.header("Cross-Origin-Resource-Policy") == "same-origin"
        assert answer.header("Cache-Control") == "no-store"
        assert "frame-ancestors 'none'" in answer.header("Content-Security-Policy")
    page, data = answers[0], answers[1]
    assert data.header("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'"
    policy = dict(part.strip().split(" ", 1) for part in page.header("Content-Security-Policy").split(";"))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    for directive in ("script-src", "style-src"):  # the page's own blocks by hash; never 'unsafe-inline'
        assert all(source.startswith("'sha256-") for source in policy[directive].split())
    assert policy["base-uri"] == policy["form-action"] == policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
