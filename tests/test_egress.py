"""Egress security: deny by default, by any spelling or DNS trick; https required; private APIs
only on purpose; forward proxies and mTLS against real servers; sanitized responses.

Names resolve through a test lookup (``Sidecar(dns_lookup=...)``) that answers public-looking
names with loopback addresses, the way a hostile DNS server would; every connection stays on
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.egress import (
    EgressPolicy,
    ProxySettings,
    embedded_ipv4,
    literal_address,
    non_public_reason,
)
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.policy import OperatorPolicy
from tests._support.forward_proxy import TinyProxy
from tests._support.pki import CertificateAuthority
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.tls_upstream import TlsUpstream
from tests._support.upstream import Upstream

# --- every spelling of an address ---------------------------------------------------------

FORMS = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback"),  # decimal
    ("0177.0.0.1", "loopback"),  # octal
    ("0x7f.0.0.1", "loopback"),  # hex
    ("0x7f000001", "loopback"),  # one hex number
    ("127.1", "loopback"),  # short form
    ("127.0.0.1.", "loopback"),  # trailing dot
    ("[::1]", "loopback"),  # bracketed IPv6
    ("::ffff:127.0.0.1", "loopback (inside ::ffff:7f00:1)"),  # IPv4-mapped
    ("[::ffff:7f00:1]", "loopback (inside ::ffff:7f00:1)"),
    ("::127.0.0.1", "loopback (inside ::7f00:1)"),  # IPv4-compatible
    ("64:ff9b::7f00:1", "loopback (inside 64:ff9b::7f00:1)"),  # NAT64
    ("2002:7f00:1::", "loopback (inside 2002:7f00:1::)"),  # 6to4
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("0xc0.0xa8.1.1", "private"),  # 192.168.1.1 in hex
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("169.254.169.254", "cloud metadata"),
    ("2852039166", "cloud metadata"),  # 169.254.169.254 in decimal
    ("::ffff:169.254.169.254", "cloud metadata (inside ::ffff:a9fe:a9fe)"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),  # with a zone id
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "private"),  # benchmarking range
    ("8.8.8.8", ""),
    ("2606:4700:4700::1111", ""),
    ("::ffff:8.8.8.8", ""),
]


@pytest.mark.parametrize(("host", "reason"), FORMS)
def test_every_spelling_is_normalized_then_classified(host, reason):
    address = literal_address(host)
    assert address is not None, host
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("name", ["localhost", "localhost.", "crm.example.com", "deadbeef", "1e100.net", "0x.example"])
def test_names_are_not_mistaken_for_addresses(name):
    assert literal_address(name) is None


def test_embedded_ipv4_forms():
    assert embedded_ipv4(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.ip_address("10.0.0.1")
    assert embedded_ipv4(ipaddress.ip_address("2001:db8::1")) is None


def test_policy_opt_ins():
    loopback, metadata, private = (ipaddress.ip_address(a) for a in ("127.0.0.1", "169.254.169.254", "10.0.0.1"))
    assert EgressPolicy().refusal("h", loopback) is not None
    assert EgressPolicy(private_network=True).refusal("h", loopback) is None
    assert EgressPolicy(private_network=True).refusal("h", metadata) is not None  # metadata needs listing
    narrowed = EgressPolicy(private_network=True, ip_allowlist=(ipaddress.ip_network("10.0.0.0/8"),))
    assert narrowed.refusal("h", private) is None
    assert "outside connection.ip_allowlist" in str(narrowed.refusal("h", loopback))
    listed = EgressPolicy(ip_allowlist=(ipaddress.ip_network("169.254.169.254/32"),))
    assert listed.refusal("h", metadata) is None
    assert EgressPolicy().refusal("h", ipaddress.ip_address("8.8.8.8")) is None


# --- refused at load: literal addresses and plain http -----------------------------------------


def api(base_url: str, connection: str = "", name: str = "crm") -> str:
    return textwrap.dedent(f"""
        apis:
          - name: {name}
            connection: {{base_url: "{base_url}"{connection}}}
            endpoints:
              - {{name: get, method: GET, path: /items}}
        """)


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        (
            "https://169.254.169.254/latest",
            "connection.base_urls.sandbox: egress denied: 169.254.169.254, a cloud metadata address "
            "(never allowed unless connection.ip_allowlist lists it)",
        ),
        ("https://2130706433:1/", "egress denied: 2130706433 resolves to 127.0.0.1, a loopback address"),
        ("https://[::ffff:127.0.0.1]:1/", "::ffff:127.0.0.1 resolves to ::ffff:7f00:1, a loopback (inside"),
        ("https://0x7f.1/", "egress denied: 0x7f.1 resolves to 127.0.0.1, a loopback address"),
        ("https://10.0.0.5/", "allow private addresses on purpose with connection.private_network: true"),
        (
            "http://api.example.com",
            "connection.base_urls.sandbox: must be https: credentials and data would cross the network in "
            "clear text (set connection.allow_http: true to allow plain http for this API on purpose)",
        ),
    ],
)
def test_validate_refuses_what_the_api_may_not_reach(base_url, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(api(base_url), "apis.yaml")
    assert "apis.yaml: api 'crm': " in str(caught.value)
    assert message in str(caught.value)


def test_opt_ins_make_them_valid():
    assert parse_config(api("http://127.0.0.1:8080", ", allow_http: true, private_network: true"))
    assert parse_config(api("https://10.0.0.5", ", ip_allowlist: [10.0.0.0/24]"))
    with pytest.raises(ConfigError, match=r"it is outside connection.ip_allowlist"):
        parse_config(api("https://10.0.1.5", ", ip_allowlist: [10.0.0.0/24]"))
    with pytest.raises(ConfigError, match=r"ip_allowlist\[0\]: 'ten' is not an IP address or CIDR network"):
        parse_config(api("https://10.0.0.5", ", ip_allowlist: [ten]"))


def test_the_token_url_follows_the_api_policy():
    oauth = """    authentication:
      type: oauth2
      config: {token_url: "http://idp.example.com/token", client_id: app, client_secret: "env://S"}
"""
    with pytest.raises(ConfigError, match=r"authentication.config.token_url: must be https: the client secret"):
        parse_config(api("https://api.example.com") + oauth, "apis.yaml")
    with pytest.raises(ConfigError, match=r"token_url: egress denied: 127.0.0.1, a loopback address"):
        parse_config(api("https://api.example.com") + oauth.replace("http://idp.example.com", "https://127.0.0.1"))


def test_validate_reports_what_each_api_may_reach(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "apis.yaml"
    config.write_text(
        api("https://api.example.com", name="public")
        + api("https://10.0.0.5", ", ip_allowlist: [10.0.0.0/24]", name="internal").replace("apis:\n", "")
    )
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "validate", "--offline", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "  public: egress: public addresses only" in result.stdout
    assert "  internal: egress: private networks 10.0.0.0/24" in result.stdout


# --- checked where the connection is made ------------------------------------------------------


class FakeDns:
    """Answers names as a hostile resolver would; records every lookup."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int, family: int) -> list[tuple[int, str]]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        import socket

        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in self.answers[host]]


@pytest.fixture(scope="module")
def dns() -> FakeDns:
    return FakeDns()


def egress_config(upstream: Upstream) -> str:
    port = upstream.port
    entries = {
        "public_looking": ("http://api.public-looking.example:{port}/echo", "allow_http: true"),
        "mixed": ("http://mixed.example:{port}/echo", "allow_http: true"),
        "metadata_name": ("http://metadata.example:{port}/echo", "allow_http: true, private_network: true"),
        "trailing_dot": ("http://localhost.:{port}/echo", "allow_http: true"),
        "rebind": ("http://rebind.example:{port}/echo", "allow_http: true, ip_allowlist: [127.0.0.1/32]"),
        "flip": ("http://flip.example:{port}/echo", "allow_http: true, ip_allowlist: [127.0.0.1/32]"),
        "redirecting": ("http://127.0.0.1:{port}", "allow_http: true, private_network: true"),
        "cookies": ("http://127.0.0.1:{port}", "allow_http: true, private_network: true"),
        "dropping": ("http://127.0.0.1:{port}", "allow_http: true, private_network: true"),
    }
    text = "apis:\n"
    for name, (url, opts) in entries.items():
        security = ""
        if name == "dropping":
            security = "\n    security: {response_headers: {drop: [x-multi]}}"
        text += f"""  - name: {name}
    connection: {{base_url: "{url.format(port=port)}", {opts}, timeout_ms: 3000}}
    endpoints:
      - {{name: get, method: GET, path: /items}}
      - {{name: multi, method: GET, path: /multi-headers}}
      - {{name: redirect, method: GET, path: /redirect, parameters: [{{name: to, in: query}}]}}{security}
"""
    return text


@pytest.fixture(scope="module")
def running(upstream: Upstream, dns: FakeDns) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(egress_config(upstream), f"{tmp}/s.sock", dns_lookup=dns, proxies=ProxySettings())
        yield sidecar
        sidecar.stop()


@pytest.fixture
def conv(running):
    with connect(running.unix_target) as c:
        yield c


def test_a_public_looking_name_answering_loopback_is_refused_and_nothing_is_sent(conv, dns, upstream):
    dns.answers["api.public-looking.example"] = ["127.0.0.1"]
    before = len(upstream.requests)
    with pytest.raises(errors.EgressDenied) as caught:
        conv.api.public_looking.get()
    assert caught.value.message == (
        "public_looking.get: egress denied: api.public-looking.example resolves to 127.0.0.1, a loopback address "
        "(allow private addresses on purpose with connection.private_network: true or connection.ip_allowlist)"
    )
    assert len(upstream.requests) == before


def test_one_private_answer_among_public_ones_refuses_the_host(conv, dns):
    dns.answers["mixed.example"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(errors.EgressDenied, match=r"mixed.example resolves to 10.0.0.7, a private address"):
        conv.api.mixed.get()


def test_metadata_is_refused_even_for_a_private_api(conv, dns):
    dns.answers["metadata.example"] = ["169.254.169.254"]
    with pytest.raises(errors.EgressDenied, match=r"a cloud metadata address"):
        conv.api.metadata_name.get()


def test_a_trailing_dot_name_resolved_by_the_system_is_checked_too(upstream):
    """No fake DNS here: the real resolver answers ``localhost.`` with loopback."""
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(egress_config(upstream), f"{tmp}/s.sock", proxies=ProxySettings())
        try:
            with connect(sidecar.unix_target) as conv, pytest.raises(errors.EgressDenied, match=r"localhost. resolves"):
                conv.api.trailing_dot.get()
        finally:
            sidecar.stop()


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(conv, dns, upstream):
    """rebind.example exists only in the fake DNS: reaching the upstream proves the connection used
    the address the check saw, not a second lookup; Host stays the name."""
    dns.answers["rebind.example"] = ["127.0.0.1"]
    response = conv.api.rebind.get()
    assert response.status_code == 200
    headers = {k.lower(): v for k, v in response.json()["headers"]}
    assert headers["host"] == f"rebind.example:{upstream.port}"


def test_every_new_connection_is_checked(conv, dns):
    dns.answers["flip.example"] = ["127.0.0.2"]  # outside the API's ip_allowlist
    asked = dns.asked.count("flip.example")
    with pytest.raises(errors.EgressDenied, match=r"127.0.0.2, a loopback address .it is outside"):
        conv.api.flip.get()
    dns.answers["flip.example"] = ["127.0.0.1"]
    assert conv.api.flip.get().status_code == 200
    assert dns.asked.count("flip.example") == asked + 2  # a refused answer is never cached


def test_redirects_are_returned_not_followed(conv, upstream):
    before = len(upstream.requests)
    response = conv.api.redirecting.redirect(to="http://169.254.169.254/latest/meta-data/")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://169.254.169.254/latest/meta-data/"
    assert len(upstream.requests) == before + 1  # the redirect itself, nothing after it


def test_set_cookie_is_dropped_by_default(conv):
    response = conv.api.cookies.multi()
    assert "set-cookie" not in {k.lower() for k in response.headers}
    assert response.headers["X-Multi"] == "first, second"


def test_response_headers_drop_list(conv):
    response = conv.api.dropping.multi()
    assert "x-multi" not in {k.lower() for k in response.headers}


def test_httpx_own_transport_is_checked_too(upstream, dns, monkeypatch):
    monkeypatch.setenv("CUSTOM_API_SIDECAR_HTTP_TRANSPORT", "httpcore")
    dns.answers["api.public-looking.example"] = ["127.0.0.1"]
    dns.answers["rebind.example"] = ["127.0.0.1"]
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(egress_config(upstream), f"{tmp}/s.sock", dns_lookup=dns, proxies=ProxySettings())
        try:
            with connect(sidecar.unix_target) as conv:
                with pytest.raises(errors.EgressDenied, match=r"127.0.0.1, a loopback address"):
                    conv.api.public_looking.get()
                response = conv.api.rebind.get()
        finally:
            sidecar.stop()
    assert response.status_code == 200
    assert {k.lower(): v for k, v in response.json()["headers"]}["host"] == f"rebind.example:{upstream.port}"


# --- a real forward proxy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[TinyProxy]:
    server = TinyProxy(tmp_path_factory.mktemp("proxy"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki) -> Iterator[TlsUpstream]:
    issued = pki.issue("secure.via-proxy.test", names=("secure.via-proxy.test",))
    server = TlsUpstream(issued.cert, issued.key)
    yield server
    server.close()


def proxy_config(upstream: Upstream, proxy: TinyProxy, tls_server: TlsUpstream, ca: str) -> str:
    return textwrap.dedent(f"""
        apis:
          - name: via_proxy
            connection: {{base_url: "http://api.via-proxy.test:{upstream.port}/echo", allow_http: true,
                          private_network: true, proxy: "{proxy.url}"}}
            endpoints: [{{name: get, method: GET, path: /items}}]
          - name: denied_via_proxy
            connection: {{base_url: "http://internal.via-proxy.test:{upstream.port}/echo", allow_http: true,
                          proxy: "{proxy.url}"}}
            endpoints: [{{name: get, method: GET, path: /items}}]
          - name: env_proxy
            connection: {{base_url: "http://env.via-proxy.test:{upstream.port}/echo", allow_http: true,
                          private_network: true}}
            endpoints: [{{name: get, method: GET, path: /items}}]
          - name: no_proxy
            connection: {{base_url: "http://bypass.via-proxy.test:{upstream.port}/echo", allow_http: true,
                          private_network: true}}
            endpoints: [{{name: get, method: GET, path: /items}}]
          - name: secure_via_proxy
            connection: {{base_url: "https://secure.via-proxy.test:{tls_server.port}", private_network: true,
                          proxy: "{proxy.url}", tls: {{ca_bundle: "{ca}"}}}}
            endpoints: [{{name: get, method: GET, path: /items}}]
        """)


@pytest.fixture(scope="module")
def proxied(upstream, proxy, tls_server, pki, dns) -> Iterator[ThreadedSidecar]:
    for name in ("api", "internal", "env", "bypass", "secure"):
        dns.answers[f"{name}.via-proxy.test"] = ["127.0.0.1"]
    settings = ProxySettings(http=proxy.url, no_proxy="bypass.via-proxy.test")
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            proxy_config(upstream, proxy, tls_server, str(pki.cert)),
            f"{tmp}/s.sock",
            dns_lookup=dns,
            proxies=settings,
            policy=OperatorPolicy.from_env(proxies=[proxy.url]),  # the operator runs this proxy
        )
        yield sidecar
        sidecar.stop()


def test_the_proxy_is_asked_for_the_checked_address(proxied, proxy, upstream):
    """Plain http through a proxy: the proxy gets the checked address in the request line and
    (as RFC 9112 makes it) uses it as Host; https keeps the name (next tests)."""
    with connect(proxied.unix_target) as conv:
        response = conv.api.via_proxy.get()
    assert response.status_code == 200
    assert response.json()["path"] == "/echo/items"
    assert proxy.opened()[-1] == f"127.0.0.1:{upstream.port}"  # never the name: no lookup at the proxy


def test_a_refused_target_never_reaches_the_proxy(proxied, proxy):
    before = proxy.opened()
    with connect(proxied.unix_target) as conv, pytest.raises(errors.EgressDenied, match=r"internal.via-proxy.test"):
        conv.api.denied_via_proxy.get()
    assert proxy.opened() == before


def test_proxy_variables_and_no_proxy(proxied, proxy, upstream):
    with connect(proxied.unix_target) as conv:
        before = len(proxy.opened())
        assert conv.api.env_proxy.get().status_code == 200
        assert len(proxy.opened()) == before + 1  # HTTP_PROXY
        assert conv.api.no_proxy.get().status_code == 200
        assert len(proxy.opened()) == before + 1  # NO_PROXY: direct


def test_https_through_connect_verifies_the_name(proxied, proxy, tls_server):
    with connect(proxied.unix_target) as conv:
        response = conv.api.secure_via_proxy.get()
    assert response.status_code == 200
    assert response.json()["host"] == f"secure.via-proxy.test:{tls_server.port}"
    assert proxy.opened()[-1] == f"127.0.0.1:{tls_server.port}"


def test_proxy_settings_from_the_environment():
    settings = ProxySettings.from_env({"https_proxy": "http://p:3128", "NO_PROXY": ".internal"})
    assert settings.proxy_for("https://api.example.com/x") == "http://p:3128"
    assert settings.proxy_for("https://crm.internal/x") is None
    assert settings.proxy_for("http://api.example.com/x") is None  # no HTTP_PROXY
    assert settings.proxy_for("https://api.example.com/x", override="direct") is None
    assert ProxySettings.from_env({}).proxy_for("https://api.example.com") is None


# --- mTLS -------------------------------------------------------------------------------------

KEY_CANARY_ENV = "MTLS_CLIENT_KEY"


@pytest.fixture(scope="module")
def mtls(pki, tmp_path_factory):
    server_cert = pki.issue("mtls.test", names=("mtls.test",))
    client = pki.issue("agent-sidecar", client=True)
    stranger = CertificateAuthority(tmp_path_factory.mktemp("other-ca"), "Other CA").issue("stranger", client=True)
    server = TlsUpstream(server_cert.cert, server_cert.key, client_ca=pki.cert)
    yield server, client, stranger
    server.close()


def mtls_config(port: int, ca: str, client, stranger) -> str:
    def entry(name: str, tls: str) -> str:
        return f"""
  - name: {name}
    connection: {{base_url: "https://mtls.test:{port}", private_network: true, tls: {{{tls}}}}}
    endpoints: [{{name: get, method: GET, path: /items}}]"""

    return "apis:" + "".join(
        [
            entry(
                "with_cert",
                f'client_cert: "file://{client.cert}", client_key: "env://{KEY_CANARY_ENV}", ca_bundle: "{ca}"',
            ),
            entry("without_cert", f'ca_bundle: "{ca}"'),
            entry(
                "wrong_cert",
                f'client_cert: "file://{stranger.cert}", client_key: "file://{stranger.key}", ca_bundle: "{ca}"',
            ),
        ]
    )


def test_mtls_with_the_right_certificate_and_ssl_error_otherwise(mtls, pki, dns, caplog):
    from custom_api_sidecar.secrets import build_secret_store

    server, client, stranger = mtls
    dns.answers["mtls.test"] = ["127.0.0.1"]
    store = build_secret_store(environ={KEY_CANARY_ENV: client.key_pem})
    caplog.set_level("DEBUG")
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            mtls_config(server.port, str(pki.cert), client, stranger),
            f"{tmp}/s.sock",
            dns_lookup=dns,
            proxies=ProxySettings(),
            secret_store=store,
        )
        try:
            with connect(sidecar.unix_target) as conv:
                ok = conv.api.with_cert.get()
                with pytest.raises(errors.SSLError) as missing:
                    conv.api.without_cert.get()
                with pytest.raises(errors.SSLError) as wrong:
                    conv.api.wrong_cert.get()
        finally:
            sidecar.stop()
    assert ok.status_code == 200 and ok.json()["client"] == "agent-sidecar"
    for err in (missing.value, wrong.value):
        assert "TLS handshake or certificate verification failed" in err.message
    key_body = "".join(client.key_pem.splitlines()[1:-1])
    visible = [ok.text, str(missing.value), str(wrong.value), *(r.getMessage() for r in caplog.records)]
    assert not [text for text in visible if key_body[:40] in text]  # the private key is never shown
