"""Auth types: config validation (every secret part a reference) and injection against the real
echo upstream (each credential arrives exactly as configured, and only there)."""

from __future__ import annotations

import base64
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar import ConfigError, parse_config
from custom_api_sidecar.config import ApiKeyAuth, BasicAuth, CustomHeaderAuth, OAuth2Auth
from custom_api_sidecar.secrets import build_secret_store
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

LEAKED = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"  # a literal secret pasted into a config file


def auth_problems(auth: str) -> list[str]:
    text = f"""
        apis:
          - name: crm
            connection: {{base_url: "https://crm.example.com"}}
            endpoints: [{{name: get_item, method: GET, path: /items}}]
            authentication: {auth}
    """
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "apis.yaml")
    problems = [str(p) for p in info.value.problems]
    assert all(LEAKED not in p for p in problems)  # a problem never echoes the pasted secret
    return problems


def parse_auth(auth: str):
    text = f"""
        apis:
          - name: crm
            connection: {{base_url: "https://crm.example.com"}}
            endpoints: [{{name: get_item, method: GET, path: /items}}]
            authentication: {auth}
    """
    return parse_config(textwrap.dedent(text), "apis.yaml").apis[0].authentication


# --- config: the seed-004 shapes ---------------------------------------------------


def test_seed_004_spellings_parse():
    api_key = parse_auth('{type: api_key, config: {header_name: X-API-Key, prefix: "ApiKey ", key: "env://CRM_KEY"}}')
    assert api_key == ApiKeyAuth(key="env://CRM_KEY", header_name="X-API-Key", prefix="ApiKey ")
    alias = parse_auth('{type: api_key, config: {header_name: X-API-Key, key_vault_ref: "vault://kv/crm#key"}}')
    assert isinstance(alias, ApiKeyAuth) and alias.key == "vault://kv/crm#key"
    basic = parse_auth('{type: basic_auth, config: {username: svc-user, password: "file:///run/secrets/crm"}}')
    assert basic == BasicAuth(username="svc-user", password="file:///run/secrets/crm")
    oauth = parse_auth(
        """{type: oauth2, config: {token_url: "https://auth.example.com/oauth/token",
           client_id: "vault://kv/crm#client_id", client_secret: "vault://kv/crm#client_secret",
           scopes: [read, write], audience: "https://crm.example.com", extra_params: {resource: crm},
           client_auth: body, auth_header_name: X-Access-Token, token_prefix: ""}}"""
    )
    assert isinstance(oauth, OAuth2Auth)
    assert oauth.scopes == ("read", "write") and oauth.client_auth == "body" and oauth.token_prefix == ""
    assert oauth.extra_params == (("resource", "crm"),) and oauth.auth_header_name == "X-Access-Token"
    custom = parse_auth(
        '{type: custom_header, config: {headers: [{name: X-Custom-Auth, value: "env://A"}, '
        "{name: X-Tenant-ID, value: tenant_123}]}}"
    )
    assert isinstance(custom, CustomHeaderAuth)
    assert [(h.name, h.value) for h in custom.headers] == [("X-Custom-Auth", "env://A"), ("X-Tenant-ID", "tenant_123")]


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        (f"{{type: api_key, config: {{header_name: X-Key, key: {LEAKED}}}}}", "key"),
        (f"{{type: bearer_token, config: {{token: {LEAKED}}}}}", "token"),
        (f"{{type: basic_auth, config: {{username: u, password: {LEAKED}}}}}", "password"),
        (
            f'{{type: oauth2, config: {{token_url: "https://a.example.com/t", client_id: c, '
            f"client_secret: {LEAKED}}}}}",
            "client_secret",
        ),
    ],
)
def test_literal_secret_is_refused_where_a_reference_belongs(auth, field):
    assert auth_problems(auth) == [
        f"apis.yaml: api 'crm': authentication.config.{field}: must be a secret reference "
        "(vault://<mount>/<path>#<field>, env://<VAR> or file://<path>), not a literal value: "
        "secrets never go in the config file"
    ]


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        (f'{{type: basic_auth, config: {{username: {LEAKED}, password: "env://P"}}}}', "username"),
        (
            f'{{type: oauth2, config: {{token_url: "https://a.example.com/t", client_id: {LEAKED}, '
            'client_secret: "env://S"}}',
            "client_id",
        ),
        (f"{{type: custom_header, config: {{headers: [{{name: X-Auth, value: {LEAKED}}}]}}}}", "headers[0].value"),
        (
            f'{{type: oauth2, config: {{token_url: "https://a.example.com/t", client_id: c, client_secret: "env://S", '
            f"extra_params: {{assertion: {LEAKED}}}}}}}",
            "extra_params.assertion",
        ),
    ],
)
def test_secret_looking_literal_is_refused_where_literals_are_allowed(auth, field):
    (problem,) = auth_problems(auth)
    assert problem.startswith(f"apis.yaml: api 'crm': authentication.config.{field}: looks like a literal secret")


def test_every_bad_field_is_named():
    problems = auth_problems(
        """{type: oauth2, config: {token_url: "http://auth.example.com/token", client_id: svc,
           client_secret: "vault://kv/crm", client_auth: cookie, scopes: [read, "all things"],
           extra_params: {grant_type: password}, timeout_ms: 0, colour: blue}}"""
    )
    assert problems == [
        "apis.yaml: api 'crm': authentication.config.colour: unknown field for type 'oauth2'; allowed: audience, "
        "auth_header_name, client_auth, client_id, client_secret, extra_params, scopes, timeout_ms, token_prefix, "
        "token_url",
        "apis.yaml: api 'crm': authentication.config.token_url: must be https: the client secret would cross the "
        "network in clear text (set connection.allow_http: true to allow plain http for this API on purpose)",
        "apis.yaml: api 'crm': authentication.config.scopes: must be a list of scope names (or one space-separated "
        "string) without spaces or quotes",
        "apis.yaml: api 'crm': authentication.config.client_auth: 'cookie' is not one of header (HTTP Basic, "
        "client_secret_basic) or body (client_secret_post)",
        "apis.yaml: api 'crm': authentication.config.timeout_ms: must be an integer from 1 to 120000, not 0",
        "apis.yaml: api 'crm': authentication.config.extra_params.grant_type: is set by the sidecar; use the "
        "dedicated field (client_id, scopes, audience, ...)",
    ]


def test_api_key_location_and_missing_fields():
    assert auth_problems("{type: api_key, config: {}}") == [
        "apis.yaml: api 'crm': authentication.config.key: is required (a secret reference: "
        "vault://<mount>/<path>#<field>, env://<VAR> or file://<path>)",
        "apis.yaml: api 'crm': authentication.config: api_key needs exactly one of header_name (send the key in a "
        "header) or param_name (in the query)",
    ]
    assert auth_problems('{type: api_key, config: {header_name: "X Key", param_name: k, key: "env://K"}}') == [
        "apis.yaml: api 'crm': authentication.config.header_name: 'X Key' is not a valid HTTP header name",
        "apis.yaml: api 'crm': authentication.config: api_key needs exactly one of header_name (send the key in a "
        "header) or param_name (in the query)",
    ]
    assert auth_problems('{type: api_key, config: {header_name: Host, key: "env://K"}}') == [
        "apis.yaml: api 'crm': authentication.config.header_name: 'Host' is set by the sidecar itself and cannot "
        "carry credentials",
    ]


def test_unknown_type_and_stray_config():
    assert auth_problems("{type: magic}") == [
        "apis.yaml: api 'crm': authentication.type: 'magic' is not one of none, api_key, bearer_token, basic_auth, "
        "oauth2, custom_header"
    ]
    assert auth_problems("{type: none, config: {key: x}}") == [
        "apis.yaml: api 'crm': authentication.config.key: unknown field for type 'none'; type 'none' takes no config"
    ]
    assert auth_problems(
        '{type: custom_header, config: {headers: [{name: X-A, value: "env://A"}, {name: x-a, value: b}]}}'
    ) == ["apis.yaml: api 'crm': authentication.config.headers[1].name: header 'x-a' is given twice"]


# --- injection against the real echo upstream ----------------------------------------

KEY = "key-8d1f0c2b9a7e4f63"
TOKEN = "tok-5b7e2a9c1d3f4e8a"
PASSWORD = "pw-3c9a7e1b5d2f8a64"
CUSTOM = "cus-7a2e9c4b1f6d3e85"
ROTATED = "rot-1e5b9d3a7c2f4a86"
ENVIRON = {
    "CRM_KEY": KEY,
    "CRM_TOKEN": TOKEN,
    "CRM_PASSWORD": PASSWORD,
    "CRM_CUSTOM": CUSTOM,
    "KEY_LIVE": "live-only-value-123",
    "KEY_SANDBOX": "sandbox-only-value-456",
}


def auth_config(upstream_url: str, key_file: str) -> str:
    def api(name: str, auth: str, path: str = "/echo") -> str:
        return f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}{path}/{name}"}}
    authentication: {auth}
    endpoints:
      - name: get
        method: GET
        path: /items
        parameters: [{{name: X-Request-Id, in: header}}, {{name: q, in: query}}]
"""

    return "apis:" + "".join(
        [
            api(
                "key_header",
                '{type: api_key, config: {header_name: X-API-Key, prefix: "ApiKey ", key: "env://CRM_KEY"}}',
            ),
            api("key_query", '{type: api_key, config: {param_name: api_key, key: "env://CRM_KEY"}}'),
            api("bearer", '{type: bearer_token, config: {token: "env://CRM_TOKEN"}}'),
            api("basic", '{type: basic_auth, config: {username: svc-user, password: "env://CRM_PASSWORD"}}'),
            api(
                "custom",
                '{type: custom_header, config: {headers: [{name: X-Custom-Auth, value: "env://CRM_CUSTOM"}, '
                "{name: X-Tenant-ID, value: tenant_123}]}}",
            ),
            api("per_env", '{type: api_key, config: {header_name: X-API-Key, key: "env://KEY_{environment}"}}'),
            api("missing", '{type: bearer_token, config: {token: "env://NOT_SET_ANYWHERE"}}'),
            api("rotating", f'{{type: api_key, config: {{header_name: X-API-Key, key: "file://{key_file}"}}}}'),
            api("leaky", '{type: bearer_token, config: {token: "env://CRM_TOKEN"}}', path="/reflect"),
            api("public", "{type: none}"),
        ]
    )


@pytest.fixture(scope="module")
def key_file() -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
        f.write("first-file-value-77\n")
    yield f.name


@pytest.fixture(scope="module")
def authed(upstream: Upstream, key_file: str) -> Iterator[ThreadedSidecar]:
    from custom_api_sidecar.secrets import SecretSettings

    store = build_secret_store(None, SecretSettings(refresh_interval=0.2, retry_interval=0.2), environ=ENVIRON)
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(auth_config(upstream.url, key_file), f"{tmp}/s.sock", "live", secret_store=store)
        yield sidecar
        sidecar.stop()


@pytest.fixture
def conv(authed: ThreadedSidecar):
    with connect(authed.unix_target) as c:
        yield c


def received(upstream: Upstream, name: str) -> list[str]:
    return [v for k, v in upstream.last()["headers"] if k.lower() == name.lower()]


def test_api_key_header_with_prefix(conv, upstream):
    response = conv.api.key_header.get()
    assert response.status_code == 200
    assert received(upstream, "X-API-Key") == [f"ApiKey {KEY}"]


def test_api_key_in_query_is_sent_and_redacted_in_the_url(conv, upstream):
    response = conv.api.key_query.get(q="shoes")
    assert upstream.last()["query"] == f"q=shoes&api_key={KEY}"
    assert response.url.endswith("/echo/key_query/items?q=shoes&api_key=REDACTED")


def test_bearer_token(conv, upstream):
    conv.api.bearer.get()
    assert received(upstream, "Authorization") == [f"Bearer {TOKEN}"]


def test_basic_auth(conv, upstream):
    conv.api.basic.get()
    (value,) = received(upstream, "Authorization")
    scheme, encoded = value.split(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == f"svc-user:{PASSWORD}"


def test_custom_headers_literal_and_reference(conv, upstream):
    conv.api.custom.get(x_request_id="r-1")
    assert received(upstream, "X-Custom-Auth") == [CUSTOM]
    assert received(upstream, "X-Tenant-ID") == ["tenant_123"]
    assert received(upstream, "X-Request-Id") == ["r-1"]  # the caller's own headers still go through


def test_no_auth_sends_no_credentials(conv, upstream):
    conv.api.public.get()
    assert received(upstream, "Authorization") == [] and received(upstream, "X-API-Key") == []


def test_reference_per_environment(conv, upstream):
    conv.api.per_env.get()  # this sidecar serves 'live'
    assert received(upstream, "X-API-Key") == ["live-only-value-123"]


def test_rotated_file_secret_is_used_without_restart(conv, upstream, key_file):
    import time

    conv.api.rotating.get()
    assert received(upstream, "X-API-Key") == ["first-file-value-77"]
    with open(key_file, "w") as f:
        f.write(f"{ROTATED}\n")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert conv.api.rotating.get().status_code == 200  # no call fails during the rotation
        if received(upstream, "X-API-Key") == [ROTATED]:
            break
        time.sleep(0.05)
    assert received(upstream, "X-API-Key") == [ROTATED]


def test_unresolvable_reference_fails_the_call_naming_it(conv, upstream):
    before = len(upstream.requests)
    with pytest.raises(errors.CredentialsUnavailable) as info:
        conv.api.missing.get()
    assert "missing.get" in str(info.value) and "env://NOT_SET_ANYWHERE" in str(info.value)
    assert info.value.api == "missing" and info.value.operation == "get"
    assert len(upstream.requests) == before


@pytest.mark.parametrize(
    ("api", "kwargs", "named"),
    [
        ("key_header", {"headers": {"x-api-key": "mine"}}, "x-api-key"),
        ("key_query", {"params": {"api_key": "mine"}}, "api_key"),
        ("bearer", {"headers": {"Authorization": "Bearer mine"}}, "Authorization"),
        ("basic", {"headers": {"AUTHORIZATION": "Basic bWluZQ=="}}, "AUTHORIZATION"),
        ("custom", {"headers": {"X-Tenant-ID": "other_tenant"}}, "X-Tenant-ID"),
    ],
)
def test_caller_cannot_override_an_injected_credential(conv, upstream, api, kwargs, named):
    before = len(upstream.requests)
    with pytest.raises(errors.InvalidArgument) as info:
        getattr(conv.api, api).get(**kwargs)
    assert info.value.field == named
    assert f"{named!r} is set by the sidecar from the API's" in str(info.value)
    assert "cannot set or override it" in str(info.value)
    assert len(upstream.requests) == before


def test_upstream_echoing_the_credential_in_headers_cannot_leak_it(conv, upstream):
    response = conv.api.leaky.get()
    assert received(upstream, "Authorization") == [f"Bearer {TOKEN}"]  # it did reach the upstream
    assert "X-Reflect-User-Agent" in response.headers  # reflection works for ordinary headers
    assert "Authorization" not in response.headers and "X-Reflect-Authorization" not in response.headers
    assert all(TOKEN not in value for value in response.headers.values())
