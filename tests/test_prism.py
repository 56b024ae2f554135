"""Imported specs called through the sidecar against Prism, a third-party mock that
validates every request against the spec (``--errors``): arguments are built from
the operations' input schemas, and Prism must accept every request."""

from __future__ import annotations

import json
import pathlib
import re
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from custom_api_client import Response, connect, errors
from tests._support.prism import Prism
from tests._support.samples import sample
from tests._support.sidecar import ThreadedSidecar, start_sidecar

SHARED_SPECS = pathlib.Path(__file__).parent / "specs" / "public"  # the real public specs
OWN_SPEC = pathlib.Path(__file__).parent / "specs" / "prism" / "binding.yaml"
SPECS = {
    "petstore": SHARED_SPECS / "petstore-expanded-3.0.yaml",
    "hubspot": SHARED_SPECS / "hubspot-crm-contacts-3.0.json",
    "slack": SHARED_SPECS / "slack-web-swagger-2.0.json",
    "binding": OWN_SPEC,
}
TOKEN_ENV = "B2_PRISM_BEARER_TOKEN"


@pytest.fixture(scope="module")
def prisms() -> Iterator[dict[str, Prism]]:
    servers = {name: Prism(spec, wait=False) for name, spec in SPECS.items()}  # start together, wait once
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def sidecar(prisms: dict[str, Prism]) -> Iterator[ThreadedSidecar]:
    # Prism serves the spec's paths at its root, whatever the spec's server URL says.
    entries = "".join(
        f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "{prisms[name].url}",
                  circuit_breaker: {{enabled: false}}}}  # every operation, some answer 5xx on purpose
    openapi: {{spec: "{SPECS[name]}"}}
    authentication: {{type: bearer_token, config: {{token: "env://{TOKEN_ENV}"}}}}
    validation: {{response: "off"}}
"""
        for name in SPECS
    )
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
        patch.setenv(TOKEN_ENV, "prism-test-token")
        running = start_sidecar(f"apis:{entries}", f"{tmp}/sidecar.sock")
        yield running
        running.stop()


@pytest.fixture(scope="module")
def conv(sidecar: ThreadedSidecar):
    with connect(sidecar.unix_target) as c:
        yield c


def request_violations(response: Response) -> list[list[str]]:
    """Where Prism found the request invalid: its ``sl-violations`` header, or a
    problem+json body listing violations."""
    header = response.headers.get("sl-violations") or ""
    # A long list comes cut short ("Too many violations! [..."): read the locations one by one.
    found = [{"location": json.loads(m)} for m in re.findall(r'"location":(\[[^\]]*\])', header)]
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        found += response.json().get("validation") or []
    return [v["location"] for v in found if v["location"][0] != "response"]


def accepted(response: Response) -> bool:
    """Prism accepted the request: no request violation, and a 2xx, or a 500 caused only by
    Prism's own generated response (some real specs' examples do not match their schemas)."""
    if request_violations(response):
        return False
    if response.ok:
        return True
    violations = response.json().get("validation") or [] if response.status_code == 500 else []
    return bool(violations) and all(v["location"][0] == "response" for v in violations)


def arguments_from_schema(operation: dict[str, Any]) -> dict[str, Any]:
    """Every parameter (to cover query arrays and headers) and the required body properties."""
    schema = operation["input_schema"]
    parameters = {p["name"] for p in operation["parameters"]}
    return {
        name: sample(prop, schema)
        for name, prop in schema["properties"].items()
        if name in parameters or name in schema.get("required", [])
    }


@pytest.mark.parametrize("api", list(SPECS))
def test_every_operation_is_accepted(conv, api):
    description = conv.api[api].schema()
    assert description["operations"]
    rejected = []
    for operation in description["operations"]:
        kwargs = arguments_from_schema(operation)
        response = conv.api[api][operation["name"]](**kwargs)
        if not accepted(response):
            rejected.append((operation["name"], kwargs, response.status_code, response.text[:500]))
    assert rejected == []


def test_operation_counts(conv):
    counts = {api: len(conv.api[api].schema()["operations"]) for api in SPECS}
    assert counts == {"petstore": 4, "hubspot": 13, "slack": 174, "binding": 4}


def test_prism_rejects_what_the_spec_forbids(conv):
    """The check above can fail: a query value that bypasses binding (params=) and breaks
    the spec gets Prism's 422."""
    response = conv.api.petstore.find_pets(params={"limit": "not-a-number"})
    assert response.status_code == 422
    assert request_violations(response) == [["request", "query", "limit"]]


def test_every_style_is_read_back_by_prism(conv):
    response = conv.api.binding.list_items(
        "books",
        tags=["red", "blue"],
        sizes=[1, 2],
        words=["a", "b"],
        codes=["x", "y"],
        filter={"status": "open", "owner": "ada"},
        limit=10,
        x_request_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        x_regions=["eu", "us"],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [{"id": 1, "name": "first"}]}


def test_form_body_is_accepted(conv):
    response = conv.api.binding.submit_form(name="Ada", count=2, tags=["a", "b"], urgent=True)
    assert response.status_code == 200, response.text


def test_multipart_body_is_accepted(conv):
    response = conv.api.binding.upload_file(file=b"%PDF-1.4 \x00\xff binary", title="scan", pages=3)
    assert response.status_code == 200, response.text


def test_json_body_with_nested_object_and_read_only_property_skipped(conv):
    response = conv.api.binding.create_contact(
        name="Ada", email="ada@example.com", birthday="1815-12-10", nickname=None, address={"city": "London"}
    )
    assert response.status_code == 201, response.text


def test_invalid_arguments_never_reach_prism(conv, prisms):
    before = prisms["binding"].log_text().count("Request received")
    with pytest.raises(errors.InvalidArgument, match=r"sizes\[0\]: 0 is less than the minimum of 1"):
        conv.api.binding.list_items(
            "films",
            tags=["red"],
            sizes=[0],
            words=["a"],
            codes=["b"],
            filter={"status": "open"},
            x_request_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
            x_regions=["eu"],
        )
    assert prisms["binding"].log_text().count("Request received") == before
