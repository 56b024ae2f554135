"""Every operation of every real spec (tests/specs/public, the shared specs' copies) and of
generated specs, called through the real sidecar with generated arguments, against Prism
validating requests against the same spec (``prism mock --errors``).

Arguments come from each operation's input schema (hypothesis-jsonschema, fixed seed, a
few per operation, bounded to what an agent sends: tests/_support/agent_arguments.py). A
request Prism refuses, or a schema-valid value the sidecar refuses, is a disagreement:
each one found was fixed or is a documented limitation with a test below.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from custom_api_client import connect, errors
from tests._support.agent_arguments import plain_schema
from tests._support.conformance import (
    GENERATED_OPERATIONS,
    GENERATED_SEEDS,
    PUBLIC_SPECS,
    check_operation,
    not_callable,
    prisms_for,
    public_specs,
    refusal,
    request_violations,
    sidecar_for,
)
from tests._support.generated_specs import generated_spec, write_generated_spec
from tests._support.prism import Prism

EXAMPLES = 4  # calls per operation: 4 x (194 real + 36 generated) operations
LIMITS_SPEC = pathlib.Path(__file__).parent / "specs" / "prism" / "limits.yaml"
PUBLIC = list(public_specs())
GENERATED = [f"generated_{seed}" for seed in GENERATED_SEEDS]


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    out = public_specs()
    folder = tmp_path_factory.mktemp("generated-specs")
    for seed in GENERATED_SEEDS:
        out[f"generated_{seed}"] = write_generated_spec(seed, folder, GENERATED_OPERATIONS)
    out["limits"] = LIMITS_SPEC
    return out


@pytest.fixture(scope="module")
def prisms(specs: dict[str, pathlib.Path]) -> Iterator[dict[str, Prism]]:
    with prisms_for(specs) as servers:  # one Prism per spec, started together
        yield servers


@pytest.fixture(scope="module")
def conv(specs: dict[str, pathlib.Path], prisms: dict[str, Prism]) -> Iterator[Any]:
    with sidecar_for(specs, prisms) as sidecar, connect(sidecar.unix_target) as c:
        yield c


def _shared_specs() -> pathlib.Path:
    """The project's shared spec folder: beside the checkout in CI, /work/shared on a developer's machine."""
    for candidate in (pathlib.Path(__file__).parents[2] / "shared" / "specs", pathlib.Path("/work/shared/specs")):
        if candidate.is_dir():
            return candidate
    raise AssertionError("no shared/specs folder beside the checkout or in /work/shared")


def test_every_shared_spec_is_checked():
    shared = {p.name: p.read_bytes() for p in _shared_specs().iterdir() if p.suffix in (".json", ".yaml")}
    copies = {p.name: p.read_bytes() for p in PUBLIC_SPECS.iterdir() if p.suffix in (".json", ".yaml")}
    assert len(shared) == 4
    assert copies == shared  # unchanged copies, each one checked below
    assert PUBLIC == ["hubspot_crm_contacts_3_0", "petstore_3_0", "petstore_expanded_3_0", "slack_web_swagger_2_0"]


def test_operation_counts(conv):
    counts = {api: len(conv.api[api].schema()["operations"]) for api in [*PUBLIC, *GENERATED]}
    assert counts == {
        "hubspot_crm_contacts_3_0": 13,
        "petstore_3_0": 3,
        "petstore_expanded_3_0": 4,
        "slack_web_swagger_2_0": 174,
        **dict.fromkeys(GENERATED, GENERATED_OPERATIONS),
    }
    # None is left out by design: no skipped operation, cookie parameter or HTTP-set header.
    assert {name: not_callable(path) for name, path in public_specs().items()} == {name: [] for name in PUBLIC}


@pytest.mark.parametrize("api", [*PUBLIC, *GENERATED])
def test_prism_accepts_every_operation(conv, api):
    operations = conv.api[api].schema()["operations"]
    outcomes = [check_operation(conv, api, operation, EXAMPLES) for operation in operations]
    assert all(outcome.examples >= 1 for outcome in outcomes)
    problems = [f"{o.operation}: {problem}" for o in outcomes for problem in o.problems]
    assert problems == []


def test_generated_specs_cover_every_style_and_media_type():
    """The generated specs, together, use what the real specs lack."""
    used: set[Any] = set()
    names: set[str] = set()
    for seed in GENERATED_SEEDS:
        for item in generated_spec(seed, GENERATED_OPERATIONS)["paths"].values():
            for operation in item.values():
                for param in operation["parameters"]:
                    kind = param["schema"].get("type") if "schema" in param else "content"
                    used.add((param["in"], param.get("style", "default"), param.get("explode"), kind))
                    names.add(param["name"])
                for media, content in (operation.get("requestBody") or {}).get("content", {}).items():
                    used.add(media)
                    used.add("$ref" if "$ref" in content["schema"] else "inline")
    assert {"application/json", "application/x-www-form-urlencoded", "multipart/form-data", "$ref"} <= used
    styles = {(where, style) for where, style, _, _ in {u for u in used if isinstance(u, tuple)}}
    assert {("path", "simple"), ("path", "label"), ("path", "matrix"), ("header", "default")} <= styles
    assert {("query", "default"), ("query", "spaceDelimited"), ("query", "pipeDelimited")} <= styles
    assert ("query", "deepObject") in styles
    assert {("query", "default", True, "array"), ("query", "default", False, "array")} <= used
    assert {("query", "default", True, "object"), ("query", "default", False, "object")} <= used
    assert {("header", "default", None, "array"), ("query", "default", None, "content")} <= used
    assert "from" in names and any(name.startswith("page.") for name in names)


# --- fixes the check found ------------------------------------------------------------


def test_required_query_parameter_is_never_sent_empty(conv, prisms):
    """Without allowEmptyValue, ``?q=`` is no q at all (Prism: "must have required property"):
    the importer makes a required query string non-empty, and an array of non-empty strings."""
    schema = next(op for op in conv.api.limits.schema()["operations"] if op["name"] == "search")["input_schema"]
    assert schema["properties"]["q"]["minLength"] == 1
    assert schema["properties"]["tags"]["minItems"] == 1
    assert schema["properties"]["tags"]["items"]["minLength"] == 1
    assert "minLength" not in schema["properties"]["page"]  # optional: an empty one is simply left out
    before = prisms["limits"].log_text().count("Request received")
    for bad in ({"q": "", "tags": ["a"]}, {"q": "a", "tags": []}, {"q": "a", "tags": [""]}):
        with pytest.raises(errors.InvalidArgument, match=r"limits\.search: (q|tags)"):
            conv.api.limits.search(**bad)
    assert prisms["limits"].log_text().count("Request received") == before
    assert refusal(conv.api.limits.search(q="a", tags=["a", "b"], page="")) is None


def test_slack_token_query_parameter_is_never_sent_empty(conv):
    with pytest.raises(errors.InvalidArgument, match=r"admin_apps_approved_list: token: '' should be non-empty"):
        conv.api.slack_web_swagger_2_0.admin_apps_approved_list(token="")
    assert refusal(conv.api.slack_web_swagger_2_0.admin_apps_approved_list(token="xoxp-1")) is None


def test_required_json_body_with_only_optional_properties_defaults_to_empty_object(conv):
    response = conv.api.limits.set_preferences()
    assert refusal(response) is None, response.text
    assert refusal(conv.api.limits.set_preferences(beta=True)) is None


# --- documented limitations -----------------------------------------------------------


def test_a_required_form_body_needs_one_field(conv, prisms):
    """An empty form is no body at all (Prism: "Body parameter is required"), so the sidecar
    asks for a field instead of sending one."""
    before = prisms["limits"].log_text().count("Request received")
    with pytest.raises(errors.InvalidArgument, match=r"missing the request body: pass its properties"):
        conv.api.limits.subscribe()
    assert prisms["limits"].log_text().count("Request received") == before
    assert refusal(conv.api.limits.subscribe(daily=False)) is None


def test_prism_reads_int64_as_a_javascript_number(conv):
    """Prism (JavaScript numbers) refuses an int64 beyond 2^53 - 1 that the sidecar sends exactly."""
    assert refusal(conv.api.limits.big_number(id=2**53 - 1)) is None
    response = conv.api.limits.big_number(id=2**53)
    assert [v["message"] for v in request_violations(response)] == [
        "Request body property id must be <= 9007199254740991"
    ]


def test_prism_never_splits_a_space_delimited_array(conv):
    """The sidecar sends ``ids=1+2`` (a space, form-encoded); Prism splits the decoded value on
    the text '%20', so two items read as one string."""
    assert refusal(conv.api.limits.spaced(ids=[1])) is None
    response = conv.api.limits.spaced(ids=[1, 2])
    assert response.url.endswith("/spaced?ids=1+2")
    assert [v["message"] for v in request_violations(response)] == ["Request query parameter ids.0 must be integer"]


def test_prism_reads_an_absent_exploded_query_object_as_empty(conv):
    """Leaving out an optional object parameter is valid; Prism checks it as {}."""
    assert refusal(conv.api.limits.filtered(filter={"status": "open"})) is None
    response = conv.api.limits.filtered()
    assert [v["message"] for v in request_violations(response)] == [
        "Request query parameter filter must have required property 'status'"
    ]


def test_prism_keeps_the_last_of_repeated_multipart_parts(conv):
    """The sidecar sends an array as one part per item (RFC 7578); Prism keeps the last part,
    a string, unless the spec adds an ``encoding`` entry for the field."""
    response = conv.api.limits.attach(file=b"%PDF-1.4", labels=["a", "b"])
    assert [v["message"] for v in request_violations(response)] == ["Request body property labels must be array"]
    assert refusal(conv.api.limits.attach(file=b"%PDF-1.4")) is None


def test_header_values_are_visible_ascii(conv):
    """A header carries no control or non-ASCII character (the generator sends none):
    the sidecar refuses them, never sends them."""
    with pytest.raises(errors.InvalidArgument, match=r"header 'X-Locale' holds a control or non-ASCII character"):
        conv.api.limits.search(q="a", tags=["a"], x_locale="français")
    assert refusal(conv.api.limits.search(q="a", tags=["a"], x_locale="fr-FR")) is None


# --- the argument generator itself (pure logic) ----------------------------------------


def test_plain_schema_reads_openapi_keywords():
    defs = {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}, "id": {"readOnly": True}}}}
    schema = plain_schema({"$ref": "#/$defs/Node", "nullable": True}, defs)
    assert schema["anyOf"][1] == {"type": "null"}
    node = schema["anyOf"][0]
    assert "id" not in node["properties"]  # readOnly: a request never sends it
    depth = 0
    while "next" in node.get("properties", {}) and node["properties"]["next"] != {"not": {}}:
        node, depth = node["properties"]["next"], depth + 1
    assert depth < 5  # recursion unrolled a few levels, then left out
    header = plain_schema({"type": "string"}, {}, "header")
    assert header["maxLength"] <= 12 and header["pattern"].startswith("^[!-~]")
    path = plain_schema({"type": "string"}, {}, "path")
    assert path["minLength"] == 1 and path["not"] == {"enum": [".", ".."]}
    assert plain_schema({"type": "integer", "format": "int64"}, {})["maximum"] == 2**53 - 1


def test_conformance_check_reports_a_disagreement(conv, prisms):
    """The check can fail: a query value sent through params= that breaks the spec is reported."""
    response = conv.api.petstore_expanded_3_0.find_pets(params={"limit": "many"})
    assert "limit" in (refusal(response) or "")
    assert [v["location"] for v in request_violations(response)] == [["request", "query", "limit"]]


def test_a_delimiter_inside_an_item_splits_it(conv):
    """Styles cannot tell a value's own "," from the delimiter: the sidecar percent-encodes the
    query's (``q=a%2Cb``), which Prism decodes before it splits; a header is sent as it is."""
    assert refusal(conv.api.limits.codes(q=["a b"], x_codes=["a b"])) is None
    response = conv.api.limits.codes(q=["a,b"], x_codes=["a,b"])
    assert response.url.endswith("/codes?q=a%2Cb")
    assert sorted(v["message"] for v in request_violations(response)) == [
        "Request header parameter x-codes must NOT have more than 1 items",
        "Request query parameter q must NOT have more than 1 items",
    ]


def test_form_body_spaces_are_percent_encoded(conv):
    """A form field with allowReserved false (the default) may hold no reserved character: not
    even "+", which form encoding uses for a space. The sidecar sends ``%20``, which every form
    decoder reads as a space."""
    response = conv.api.limits.add_note(tags=["a+b&c=d", "two words"])
    assert refusal(response) is None, response.text


def test_prism_reads_an_allowed_empty_value_as_absent(conv):
    """With ``allowEmptyValue: true`` the importer keeps '' and the sidecar sends ``cursor=``;
    Prism 5.14 reads any empty query value as no value."""
    schema = next(op for op in conv.api.limits.schema()["operations"] if op["name"] == "feed")["input_schema"]
    assert "minLength" not in schema["properties"]["cursor"]
    response = conv.api.limits.feed(cursor="")
    assert response.url.endswith("/feed?cursor=")
    assert [v["message"] for v in request_violations(response)] == [
        "Request query must have required property 'cursor'"
    ]
    assert refusal(conv.api.limits.feed(cursor="c1")) is None
