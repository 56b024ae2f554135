"""Request validation before any traffic, response validation in each mode, and the
OpenAPI semantics of the validator (pure logic: unit tests)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.registry import Registry
from custom_api_sidecar.validation import SchemaValidator, ValidatorWarmup, openapi_to_json_schema
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

CANARY = "canary-value-7f3a"  # a value the upstream echoes back; it must never be quoted by the sidecar

CONTACT = """
          type: object
          required: [name, customer]
          properties:
            name: {type: string, maxLength: 20}
            customer:
              type: object
              required: [email]
              properties:
                email: {type: string, format: email}
                birthday: {type: string, format: date}
                since: {type: string, format: date-time}
                ref: {type: string, format: uuid}
                score: {type: integer, format: int32}
                nickname: {type: string, nullable: true}
                tier: {type: string, enum: [gold, silver]}
"""


def validation_config(upstream_url: str, dead_port: int) -> str:
    echo_schema = "{type: object, required: [method], properties: {body: {type: integer}}}"
    modes = "".join(
        f"""
  - name: echo_{mode}
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}/echo/{mode}"}}
    validation: {{response: {mode}}}
    endpoints:
      - {{name: post, method: POST, path: /post, response_schema: {echo_schema}}}
      - {{name: valid, method: GET, path: /valid, response_schema: {{type: object, required: [method, path]}}}}
"""
        for mode in ("enforce", "warn", "off")
    )
    return f"""
apis:
  - name: crm
    description: Nothing listens here; validation must fail the call before any traffic.
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{dead_port}"}}
    endpoints:
      - name: search
        method: GET
        path: /contacts/{{contact_id}}
        parameters:
          - {{name: contact_id, in: path, type: string, schema: {{type: string, format: uuid}}}}
          - {{name: limit, in: query, type: integer, schema: {{type: integer, minimum: 1, maximum: 100}}}}
          - name: status
            in: query
            type: array
            schema: {{type: array, items: {{type: string, enum: [open, closed]}}}}
          - {{name: X-Day, in: header, type: string, schema: {{type: string, format: date}}}}
      - name: create
        method: POST
        path: /contacts
        request_body:{CONTACT}
{modes}"""


@pytest.fixture(scope="module")
def sidecar(upstream: Upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(validation_config(upstream.url, closed_port()), f"{tmp}/sidecar.sock")
        yield running
        running.stop()


@pytest.fixture(scope="module")
def conv(sidecar: ThreadedSidecar):
    with connect(sidecar.unix_target) as c:
        yield c


UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
GOOD_CUSTOMER = {"email": "ada@example.com", "birthday": "1815-12-10", "since": "2024-01-02T03:04:05Z", "ref": UUID}


# --- request validation: before any traffic -------------------------------------------


@pytest.mark.parametrize(
    ("call", "message", "field"),
    [
        (lambda c: c.api.crm.search(UUID, limit=500), "limit: 500 is greater than the maximum of 100", "limit"),
        (lambda c: c.api.crm.search(UUID, limit=0), "limit: 0 is less than the minimum of 1", "limit"),
        (lambda c: c.api.crm.search("not-a-uuid"), "contact_id: 'not-a-uuid' is not a 'uuid'", "contact_id"),
        (
            lambda c: c.api.crm.search(UUID, status=["open", "shut"]),
            "status[1]: 'shut' is not one of ['open', 'closed']",
            "status",
        ),
        (lambda c: c.api.crm.search(UUID, x_day="2024-02-30"), "x_day: '2024-02-30' is not a 'date'", "x_day"),
        (
            lambda c: c.api.crm.create(name="Ada", customer={"email": "x"}),
            "body.customer.email: 'x' is not a 'email'",
            "body",
        ),
        (
            lambda c: c.api.crm.create(name="Ada", customer={**GOOD_CUSTOMER, "since": "2024-01-02 03:04"}),
            "body.customer.since: '2024-01-02 03:04' is not a 'date-time'",
            "body",
        ),
        (
            lambda c: c.api.crm.create(name="Ada", customer={**GOOD_CUSTOMER, "score": 2**31}),
            "body.customer.score: 2147483648 is greater than the maximum of 2147483647",
            "body",
        ),
        (
            lambda c: c.api.crm.create(name="Ada", customer={**GOOD_CUSTOMER, "tier": "bronze"}),
            "body.customer.tier: 'bronze' is not one of ['gold', 'silver']",
            "body",
        ),
        (
            lambda c: c.api.crm.create(name="A" * 21, customer=GOOD_CUSTOMER),
            "body.name: 'AAAAAAAAAAAAAAAAAAAAA' is too long",
            "body",
        ),
        (lambda c: c.api.crm.create(name="Ada", customer={}), "body.customer: 'email' is a required property", "body"),
        (lambda c: c.api.crm.create(json={"name": "Ada"}), "body: 'customer' is a required property", "body"),
        (lambda c: c.api.crm.create(name="Ada"), "missing required argument(s): customer", "customer"),
    ],
)
def test_invalid_arguments_fail_before_any_traffic(conv, call, message, field):
    # The base URL is a closed port: reaching the network would be CONNECTION_REFUSED.
    with pytest.raises(errors.InvalidArgument) as info:
        call(conv)
    assert message in str(info.value)
    assert info.value.field == field


def test_valid_arguments_do_reach_the_network(conv):
    """The counterpart: the same calls with valid values get as far as the (closed) upstream."""
    with pytest.raises(errors.ConnectionRefused):
        conv.api.crm.search(UUID, limit=100, status=["open"], x_day="2024-02-29")
    with pytest.raises(errors.ConnectionRefused):
        conv.api.crm.create(name="Ada", customer={**GOOD_CUSTOMER, "nickname": None, "score": -(2**31)})


# --- response validation ----------------------------------------------------------


def test_enforce_fails_with_the_path_and_no_body_value(conv):
    with pytest.raises(errors.SchemaMismatch) as info:
        conv.api.echo_enforce.post(data=CANARY)
    assert "echo_enforce.post: the response does not match its response_schema at response.body" in str(info.value)
    assert "expected type integer" in str(info.value)
    assert info.value.field == "response.body"
    assert CANARY not in str(info.value)


def test_warn_logs_the_path_only_and_returns_the_response(conv, caplog):
    with caplog.at_level(logging.WARNING, logger="custom_api_sidecar.validation"):
        response = conv.api.echo_warn.post(data=CANARY)
    assert response.status_code == 200 and response.json()["body"] == CANARY
    warnings = [r.getMessage() for r in caplog.records if r.name == "custom_api_sidecar.validation"]
    assert warnings == [
        "echo_warn.post: the response does not match its response_schema at response.body: expected type integer"
    ]
    assert CANARY not in caplog.text


def test_off_neither_checks_nor_logs(conv, caplog, sidecar):
    with caplog.at_level(logging.WARNING, logger="custom_api_sidecar.validation"):
        response = conv.api.echo_off.post(data=CANARY)
    assert response.json()["body"] == CANARY
    assert not [r for r in caplog.records if r.name == "custom_api_sidecar.validation"]
    assert sidecar.sidecar.registry.operation("echo_off", "post").response_validator is None


def test_matching_response_passes_in_enforce(conv):
    assert conv.api.echo_enforce.valid().status_code == 200


def test_non_2xx_responses_are_not_validated(upstream):
    config = f"""
apis:
  - name: st
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    validation: {{response: enforce}}
    endpoints:
      - {{name: status, method: GET, path: "/status/{{code}}", parameters: [{{name: code, in: path, type: integer}}],
          response_schema: {{type: string}}}}
"""
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(config, f"{tmp}/s.sock")
        try:
            with connect(running.unix_target) as c:
                assert c.api.st.status(404).status_code == 404
                with pytest.raises(errors.SchemaMismatch, match=r"at response: expected type string"):
                    c.api.st.status(200)
        finally:
            running.stop()


# --- OpenAPI semantics (pure logic) -------------------------------------------------


def check(schema, instance, direction="request"):
    """The violation from the jsonschema path and from the compiled path: they must agree."""
    validator = SchemaValidator(schema, direction, "body")
    before = validator.violation(instance)
    validator.compile()
    assert validator.compiled
    after = validator.violation(instance)
    assert before == after
    return None if after is None else str(after)


def test_nullable():
    assert check({"type": "string", "nullable": True}, None) is None
    assert check({"type": "string"}, None) == "body: None is not of type 'string'"
    assert check({"type": "string", "enum": ["a"], "nullable": True}, None) is None
    assert check({"$ref": "#/$defs/A", "nullable": True, "$defs": {"A": {"type": "integer"}}}, None) is None
    assert check({"type": "object", "properties": {"x": {"type": "string", "x-nullable": True}}}, {"x": None}) is None


def test_read_only_not_required_in_requests_write_only_not_in_responses():
    schema = {
        "type": "object",
        "required": ["id", "password", "name"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "password": {"type": "string", "writeOnly": True},
            "name": {"type": "string"},
        },
    }
    assert check(schema, {"password": "p", "name": "n"}, "request") is None
    assert check(schema, {"name": "n"}, "request") == "body: 'password' is a required property"
    assert check(schema, {"id": 1, "name": "n"}, "response") is None
    assert check(schema, {"password": "p", "name": "n"}, "response") == "body: 'id' is a required property"


def test_formats_are_checked_where_cheap_and_others_ignored():
    assert check({"type": "string", "format": "date"}, "2024-02-29") is None
    assert check({"type": "string", "format": "date"}, "2023-02-29") == "body: '2023-02-29' is not a 'date'"
    assert check({"type": "string", "format": "date-time"}, "2024-01-02T03:04:05.5+01:00") is None
    assert check({"type": "string", "format": "date-time"}, "2024-01-02T03:04:05") is not None  # no zone
    assert check({"type": "string", "format": "email"}, "a b@example.com") is not None
    assert check({"type": "string", "format": "uuid"}, UUID.upper()) is None
    assert check({"type": "integer", "format": "int64"}, 2**63 - 1) is None
    assert check({"type": "integer", "format": "int32"}, -(2**31) - 1) is not None
    assert check({"type": "string", "format": "binary"}, "anything") is None
    assert check({"type": "string", "format": "vendor-thing"}, "anything") is None
    assert check({"type": "string", "format": "email"}, 5) == "body: 5 is not of type 'string'"


def test_boolean_exclusive_bounds_and_ref_siblings():
    assert check({"type": "number", "maximum": 10, "exclusiveMaximum": True}, 10) is not None
    assert check({"type": "number", "maximum": 10, "exclusiveMaximum": False}, 10) is None
    schema = {"$ref": "#/$defs/S", "maxLength": 3, "$defs": {"S": {"type": "string"}}}
    assert check(schema, "abcd") == "body: 'abcd' is too long"  # OpenAPI 3.1 applies $ref siblings


def test_recursive_schema():
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    tree = {"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]}
    assert check(schema, tree) == "body.children[0].children[0].value: 'x' is not of type 'integer'"


def test_conversion_does_not_modify_the_input():
    schema = {"type": "string", "nullable": True, "format": "int32"}
    openapi_to_json_schema(schema, "request")
    assert schema == {"type": "string", "nullable": True, "format": "int32"}


def test_summary_never_quotes_the_instance():
    validator = SchemaValidator(
        {"type": "object", "additionalProperties": False, "properties": {"a": {"enum": [1]}}}, "response", "response"
    )
    for instance in ({"a": CANARY}, {CANARY: 1}, CANARY):
        violation = validator.violation(instance)
        assert violation is not None and CANARY not in violation.summary


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("{type: object, required: name}", "not a valid JSON Schema at required"),
        ("{$ref: '#/$defs/Missing'}", "$ref '#/$defs/Missing' does not resolve"),
        ("{type: string, pattern: '[unclosed'}", "not a valid JSON Schema at pattern"),
        # shapes the body's keyword arguments are read from: a problem, never a traceback
        ("{properties: [1]}", "not a valid JSON Schema at properties"),
        ("{allOf: {a: 1}}", "not a valid JSON Schema at allOf"),
    ],
)
def test_unusable_schemas_are_config_problems_at_load(schema, problem):
    config = parse_config(
        f"""
apis:
  - name: a
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:1"}}
    endpoints:
      - {{name: op, method: POST, path: /x, request_body: {schema}}}
"""
    )
    with pytest.raises(ConfigError) as info:
        Registry(config, "sandbox")
    assert "endpoints.op.request_body" in str(info.value) and problem in str(info.value)


async def test_warmup_compiles_every_validator(upstream):
    registry = Registry(parse_config(validation_config(upstream.url, 1)), "sandbox")
    validators = registry.validators()
    assert validators and not any(v.compiled for v in validators)
    warmup = ValidatorWarmup(validators)
    await warmup.start()
    assert warmup.done.wait(30)
    await warmup.aclose()
    assert all(v.compiled for v in validators)


def test_newer_keywords_keep_the_same_verdict_after_warm_up():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "unevaluatedProperties": False}
    validator = SchemaValidator(schema, "request", "body")
    validator.compile()
    assert not validator.compiled  # fastjsonschema would ignore unevaluatedProperties
    assert str(validator.violation({"a": 1, "b": 2})).startswith("body: Unevaluated properties are not allowed")
