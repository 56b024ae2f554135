"""An operation is the unit of permission (issue 25): a caller cannot turn a read into a delete or
another route with method-override and rewrite arguments, and an API can accept only its declared
arguments. Through a real sidecar to the echo upstream, which records everything it receives: a
refused call never reaches it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.jobs import SqliteJobStore
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.policy import OperatorPolicy
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream

LOCAL = "allow_http: true, private_network: true"


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{{LOCAL}, base_url: "{upstream.url}/echo/crm"}}
    endpoints:
      - {{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}
      - name: forwarded_report
        method: GET
        path: /report
        parameters: [{{name: X-Forwarded-For, in: header, type: string}}]  # declared by the definition
  - name: gateway
    connection: {{{LOCAL}, base_url: "{upstream.url}/echo/gateway"}}
    security: {{allow_routing: [X-Forwarded-Proto, _method]}}  # its upstream needs them
    endpoints:
      - {{name: get_item, method: GET, path: /items}}
  - name: strict
    connection: {{{LOCAL}, base_url: "{upstream.url}/echo/strict"}}
    security: {{extra_arguments: refuse}}
    endpoints:
      - name: search
        method: GET
        path: /search
        parameters:
          - {{name: q, in: query, type: string, required: true}}
          - {{name: X-Request-Id, in: header, type: string}}
      - name: create
        method: POST
        path: /items
        request_body:
          type: object
          required: [name]
          properties: {{name: {{type: string, maxLength: 10}}, count: {{type: integer}}}}
      - {{name: ping, method: GET, path: /ping}}
"""


@pytest.fixture(scope="module")
def sidecar(upstream: Upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(config(upstream), f"{tmp}/s.sock", job_store=SqliteJobStore(f"{tmp}/jobs.sqlite3"))
        yield running
        running.stop()


@pytest.fixture
def conv(sidecar: ThreadedSidecar):  # type: ignore[no-untyped-def]
    with connect(sidecar.unix_target) as c:
        yield c


def refused(upstream: Upstream, call, match: str) -> errors.InvalidArgument:  # type: ignore[no-untyped-def]
    """``call`` fails with InvalidArgument matching ``match``, and nothing reached the upstream."""
    before = len(upstream.requests)
    with pytest.raises(errors.InvalidArgument, match=match) as info:
        call()
    assert len(upstream.requests) == before
    return info.value


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"headers": {"X-HTTP-Method-Override": "DELETE"}}, "header 'X-HTTP-Method-Override'"),
        ({"headers": {"x-http-method": "DELETE"}}, "header 'x-http-method'"),
        ({"headers": {"X-Method-Override": "PUT"}}, "header 'X-Method-Override'"),
        ({"headers": {"X-Original-URL": "/admin/delete"}}, "header 'X-Original-URL'"),
        ({"headers": {"X-Rewrite-URL": "/admin"}}, "header 'X-Rewrite-URL'"),
        ({"headers": {"Forwarded": "for=10.0.0.1;host=admin"}}, "header 'Forwarded'"),
        ({"headers": {"X-Forwarded-Host": "admin.internal"}}, "header 'X-Forwarded-Host'"),
        ({"headers": {"X-Forwarded-For": "10.0.0.1"}}, "header 'X-Forwarded-For'"),
        ({"headers": {"X-Real-IP": "10.0.0.1"}}, "header 'X-Real-IP'"),
        ({"headers": {"Proxy-Authenticate": "x"}}, "header 'Proxy-Authenticate'"),
        ({"params": {"_method": "DELETE"}}, "query parameter '_method'"),
        ({"data": {"_method": "DELETE"}}, "body field '_method'"),
        ({"json": {"_method": "DELETE", "id": 1}}, "body field '_method'"),
    ],
)
def test_a_read_cannot_become_a_delete_or_another_route(conv, upstream, kwargs, named):
    error = refused(upstream, lambda: conv.api.crm.get_contact("c1", **kwargs), named)
    assert "can change the method or the route the upstream serves" in error.message
    assert "security.allow_routing" in error.message


def test_the_attack_from_the_issue_all_at_once(conv, upstream):
    refused(
        upstream,
        lambda: conv.api.crm.get_contact(
            "c1",
            headers={"X-HTTP-Method-Override": "DELETE", "X-Original-URL": "/admin/delete"},
            params={"_method": "DELETE"},
        ),
        "X-HTTP-Method-Override",
    )
    # the same call without them goes through, as a GET
    response = conv.api.crm.get_contact("c1", headers={"X-Trace": "1"}, params={"expand": "all"})
    assert response.json()["method"] == "GET" and response.json()["query"] == "expand=all"


def test_a_raw_form_body_cannot_carry_a_method_override(conv, upstream):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    call = lambda: conv.api.crm.get_contact("c1", data=b"_method=DELETE&a=1", headers=form)  # noqa: E731
    refused(upstream, call, "body field '_method'")
    # a body of another type is not read as a form by a server, so it is not one here either
    assert conv.api.crm.get_contact("c1", data=b"_method=DELETE").status_code == 200


def test_an_api_lets_through_what_its_upstream_needs_by_name(conv, upstream):
    response = conv.api.gateway.get_item(headers={"X-Forwarded-Proto": "https"}, params={"_method": "GET"})
    received = {k.lower(): v for k, v in response.json()["headers"]}
    assert received["x-forwarded-proto"] == "https" and response.json()["query"] == "_method=GET"
    refused(upstream, lambda: conv.api.gateway.get_item(headers={"X-HTTP-Method-Override": "DELETE"}), "Override")


def test_a_declared_routing_parameter_is_the_definitions_not_the_callers(conv):
    response = conv.api.crm.forwarded_report(x_forwarded_for="203.0.113.9")
    assert {k.lower(): v for k, v in response.json()["headers"]}["x-forwarded-for"] == "203.0.113.9"
    response = conv.api.crm.forwarded_report(headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200


def test_a_background_call_is_checked_before_it_is_accepted(conv, upstream):
    refused(
        upstream,
        lambda: conv.api.crm.get_contact("c1", headers={"X-Original-URL": "/admin"}, background=True),
        "X-Original-URL",
    )


# --- security.extra_arguments: refuse --------------------------------------------------------------


def test_only_declared_arguments_reach_a_strict_api(conv, upstream):
    ok = conv.api.strict.search(q="ada", x_request_id="r1")
    assert ok.json()["query"] == "q=ada"
    refused(upstream, lambda: conv.api.strict.search(q="ada", params={"debug": "1"}), "query parameter 'debug'")
    error = refused(upstream, lambda: conv.api.strict.search(q="ada", headers={"X-Debug": "1"}), "header 'X-Debug'")
    assert "security.extra_arguments: refuse" in error.message and "declared: X-Request-Id" in error.message
    assert conv.api.strict.search(q="ada", headers={"x-request-id": "r2"}).status_code == 200  # declared, any case


def test_body_fields_of_a_strict_api_are_checked_however_they_come(conv, upstream):
    assert conv.api.strict.create(name="widget", count=2).status_code == 200
    assert conv.api.strict.create(json={"name": "widget"}).status_code == 200
    assert conv.api.strict.create(data={"name": "widget", "count": "2"}).status_code == 200
    refused(upstream, lambda: conv.api.strict.create(json={"name": "w", "admin": True}), "body field 'admin'")
    refused(upstream, lambda: conv.api.strict.create(data={"name": "w", "admin": "1"}), "body field 'admin'")
    refused(upstream, lambda: conv.api.strict.create(data={"count": "1"}), "missing required field")
    raw = b'{"name": "far too long a name"}'
    refused(upstream, lambda: conv.api.strict.create(data=raw, headers={"Content-Type": "application/json"}), "body")
    refused(
        upstream,
        lambda: conv.api.strict.create(
            data=b"name=w&admin=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        "body field 'admin'",
    )
    refused(upstream, lambda: conv.api.strict.create(data=b"\x00\x01"), "cannot be checked against")
    refused(upstream, lambda: conv.api.strict.ping(json={"a": 1}), "declares no request body")


def test_the_operator_policy_can_refuse_extra_arguments_for_every_api(upstream):
    policy = OperatorPolicy.from_env(extra_arguments=["refuse"])
    loaded = parse_config(config(upstream), "apis.yaml", policy)
    assert {api.name: api.security.extra_arguments for api in loaded.apis} == {
        "crm": "refuse",
        "gateway": "refuse",
        "strict": "refuse",
    }
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(config(upstream), f"{tmp}/s.sock", policy=policy)
        try:
            with connect(running.unix_target) as conv:
                assert conv.api.crm.get_contact("c1").status_code == 200
                refused(upstream, lambda: conv.api.crm.get_contact("c1", params={"a": "1"}), "query parameter 'a'")
        finally:
            running.stop()
    with pytest.raises(ValueError, match="use refuse"):
        OperatorPolicy.from_env(extra_arguments=["allow"])


def test_the_settings_are_checked_at_load(upstream):
    with pytest.raises(ConfigError) as info:
        parse_config(
            config(upstream)
            .replace("extra_arguments: refuse", "extra_arguments: sometimes")
            .replace("[X-Forwarded-Proto, _method]", "[X-Forwarded-Proto, X-Trace]"),
            "apis.yaml",
        )
    found = {p.field: p.message for p in info.value.problems}
    assert found["security.extra_arguments"] == "'sometimes' is not one of allow, refuse"
    assert found["security.allow_routing[1]"].startswith("'X-Trace' is not a routing argument")
