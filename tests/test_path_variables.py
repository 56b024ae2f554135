"""Seed 000: "Path variables are automatically exposed as arguments when calling the operation."

A ``{name}`` in an endpoint path with no ``parameters`` entry is a required string path
argument: positional in template order, or by keyword; discovery and tools show it."""

from __future__ import annotations

import textwrap

import pytest

from custom_api_client import errors
from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import parse_config


def test_positional_in_template_order(unix_conv):
    response = unix_conv.api.upstream.ticket_note("T-1", "N 2")
    assert response.status_code == 200
    assert response.json()["path"] == "/echo/tickets/T-1/notes/N%202"


def test_by_keyword(unix_conv):
    response = unix_conv.api.upstream.ticket_note(note_id="n9", ticket_id="t8")
    assert response.json()["path"] == "/echo/tickets/t8/notes/n9"


def test_hostile_values_stay_one_segment(unix_conv):
    response = unix_conv.api.upstream.ticket_note("../admin", "a/b")
    assert response.json()["path"] == "/echo/tickets/..%2Fadmin/notes/a%2Fb"


def test_missing_one_is_a_clear_error(unix_conv):
    with pytest.raises(errors.InvalidArgument, match="note_id"):
        unix_conv.api.upstream.ticket_note("T-1")


def test_discovery_and_tools_show_them(unix_conv):
    operation = unix_conv.api.upstream.ticket_note.schema()
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["ticket_id"] == {**params["ticket_id"], "in": "path", "type": "string", "required": True}
    assert params["note_id"]["required"] is True
    (tool,) = [
        t for t in unix_conv.api.upstream.tools(format="openai") if t["function"]["name"].endswith("ticket_note")
    ]
    schema = tool["function"]["parameters"]
    assert set(schema["required"]) >= {"ticket_id", "note_id"}
    assert schema["properties"]["ticket_id"]["type"] == "string"


def _load(endpoint: str) -> None:
    parse_config(
        textwrap.dedent(f"""
        apis:
          - name: crm
            connection: {{base_url: "https://crm.example.com"}}
            endpoints:
              - {endpoint}
        """),
        source="apis.yaml",
    )


def test_declared_path_parameter_missing_from_template_stays_an_error():
    with pytest.raises(ConfigError, match="path parameter 'other' does not appear in path"):
        _load("{name: get, method: GET, path: '/t/{id}', parameters: [{name: other, in: path}]}")


def test_a_declared_path_parameter_keeps_its_type():
    config = parse_config(
        "apis: [{name: crm, connection: {base_url: 'https://x.example'}, endpoints: "
        "[{name: get, method: GET, path: '/t/{id}/{sub}', parameters: [{name: id, in: path, type: integer}]}]}]"
    )
    params = {p.name: p for p in config.apis[0].endpoints[0].parameters}
    assert params["id"].type == "integer" and params["sub"].type == "string" and params["sub"].required


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("{name: get, method: GET, path: '/t/{json}'}", "path variable {json} cannot be a keyword argument"),
        ("{name: get, method: GET, path: '/t/{class}'}", "path variable {class} cannot be a keyword argument"),
        (
            "{name: get, method: GET, path: '/t/{q}', parameters: [{name: q, in: query}]}",
            "path variable {q} has the same name as query parameter 'q'",
        ),
    ],
)
def test_undeclared_variables_that_cannot_be_arguments(endpoint, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        _load(endpoint)
