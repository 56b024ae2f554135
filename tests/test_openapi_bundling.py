"""The schema bundler (``openapi/_schemas.py``), proved by properties.

Specs are generated with a graph of component schemas (``tests/_support/spec_graphs.py``):
shared references, diamonds, cycles, reference chains, references in every schema keyword and
in ``discriminator.mapping``, ``nullable``/``readOnly``/``writeOnly``, and names that need
escaping. For every operation's request body, parameter schemas and 2xx response schema:
- every reference in the emitted schema resolves in its own ``$defs``, and the config the CLI
  writes for the spec loads;
- the emitted schema accepts and rejects the same instances as the original, read in the whole
  document (``tests/_support/schema_meaning.py``).
Each bug the properties found is also an example test below, with the smallest spec that showed it.
"""

from __future__ import annotations

import http.server
import itertools
import json
import pathlib
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_api_sidecar.cli import main
from custom_api_sidecar.loader import load_config, parse_config
from custom_api_sidecar.openapi import ImportResult, SpecError, import_spec
from custom_api_sidecar.openapi._cli import render
from custom_api_sidecar.openapi._load import FetchPolicy
from custom_api_sidecar.openapi._refs import Resolver
from custom_api_sidecar.openapi._schemas import SchemaBundler
from custom_api_sidecar.registry import Registry
from custom_api_sidecar.validation import SchemaValidator, openapi_to_json_schema
from tests._support.schema_meaning import SEEDS, Original, near_misses, references, without_each_key
from tests._support.spec_graphs import GeneratedSpec, Slot, specs

DEF_NAME = re.compile(r"[A-Za-z0-9_-]+")  # also a YAML anchor: the CLI writes a shared def once
# Fixed seed and a budget: together these property tests take about 40 s on the 2-core CI machine.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
_numbers = itertools.count()


@pytest.fixture(scope="module")
def spec_dir() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield pathlib.Path(tmp)


def _import(spec: dict[str, Any] | GeneratedSpec, directory: pathlib.Path) -> ImportResult:
    document = spec.document if isinstance(spec, GeneratedSpec) else spec
    path = directory / f"spec-{next(_numbers)}.json"
    path.write_text(json.dumps(document))
    return import_spec(str(path), name="generated", base_url="https://api.example.com")


def _emitted(result: ImportResult, slot: Slot) -> Any:
    (endpoint,) = [e for e in result.api["endpoints"] if e["name"] == slot.operation]
    if slot.where.startswith("parameter:"):
        (param,) = [p for p in endpoint["parameters"] if p["name"] == slot.where.removeprefix("parameter:")]
        return param["schema"]
    return endpoint[slot.where]


def assert_self_contained(schema: Any) -> None:
    """Every reference (``$ref`` and discriminator mapping values) names a def in the schema's own
    ``$defs``; def names are plain; the schema is finite (it serializes) and the sidecar compiles it."""
    assert isinstance(schema, dict)
    defs = schema.get("$defs", {})
    for name in defs:
        assert DEF_NAME.fullmatch(name), name
    for ref in references(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, (ref, sorted(defs))
    for definition in defs.values():
        assert not isinstance(definition, dict) or "$defs" not in definition  # one level: every def at the top
    json.dumps(schema)
    SchemaValidator(schema, "request", "body")
    SchemaValidator(schema, "response", "response")


# --- properties -------------------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=200)
@given(spec=specs())
def test_every_emitted_schema_is_self_contained_and_the_written_config_loads(
    spec_dir: pathlib.Path, spec: GeneratedSpec
) -> None:
    result = _import(spec, spec_dir)
    assert not result.report.skipped, result.report.summary()
    for slot in spec.slots:
        assert_self_contained(_emitted(result, slot))
    # What `import-openapi` writes is what `validate` loads: YAML anchors for shared defs included.
    config = parse_config(render(result), "<generated>")
    registry = Registry(config, "sandbox")
    assert set(registry.apis["generated"].operations) == {slot.operation for slot in spec.slots}


def test_emitted_schemas_accept_and_reject_what_the_originals_do(spec_dir: pathlib.Path) -> None:
    seen: Counter[str] = Counter()

    @settings(PROPERTY, max_examples=100)
    @given(spec=specs(), data=st.data())
    def check(spec: GeneratedSpec, data: st.DataObject) -> None:
        result = _import(spec, spec_dir)
        originals = {direction: Original(spec, direction) for direction in ("request", "response")}
        for slot in spec.slots:
            emitted = _emitted(result, slot)
            original = originals[slot.direction].validator(slot.pointer)
            bundled = SchemaValidator(emitted, slot.direction, "value")
            compiled = SchemaValidator(emitted, slot.direction, "value")
            compiled.compile()
            valid = data.draw(originals[slot.direction].instances(slot.pointer))
            instances = [*valid, *SEEDS, *(m for v in valid for m in without_each_key(v))]
            instances += [data.draw(near_misses(v)) for v in valid for _ in range(3)]
            for instance in instances:
                expected = original.is_valid(instance)
                seen["accepted" if expected else "rejected"] += 1
                assert (bundled.violation(instance) is None) == expected, (slot, instance, emitted)
                assert (compiled.violation(instance) is None) == expected, (slot, instance, emitted)

    check()
    # Meaningful: many instances on each side of the line.
    assert seen["accepted"] > 300 and seen["rejected"] > 300, seen


# --- the regression shaped like the issue -------------------------------------------------------------------


def _spec(schemas: dict[str, Any], **responses: Any) -> dict[str, Any]:
    """An OpenAPI 3.0 document: ``GET /<op>`` answering each given schema, and the component schemas."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": {
            f"/{op}": {
                "get": {
                    "operationId": op,
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}},
                }
            }
            for op, schema in responses.items()
        },
        "components": {"schemas": schemas},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(result: ImportResult) -> dict[str, Any]:
    return {e["name"]: e["response_schema"] for e in result.api["endpoints"]}


def _accepts(schema: Any, instance: Any, direction: str = "response") -> bool:
    """The sidecar's verdict, before and after the fast validator is compiled (they must agree)."""
    slow, fast = SchemaValidator(schema, direction, "v"), SchemaValidator(schema, direction, "v")  # type: ignore[arg-type]
    fast.compile()
    verdicts = {slow.violation(instance) is None, fast.violation(instance) is None}
    assert len(verdicts) == 1, (schema, instance)
    return verdicts.pop()


def test_issue_shape_one_component_reached_along_every_path_imports_and_validates(tmp_path: pathlib.Path) -> None:
    """The issue: operations reaching one component directly, through a property, through allOf and
    through a $ref chain (and, as real specs do, from vendor extensions and a discriminator) got a
    config `validate` refused. Imported by the CLI, the file loads and every schema checks A's values."""
    a = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "next": _ref("A")}}
    schemas = {
        "A": {**a, "x-expandable": {"oneOf": [_ref("A"), _ref("B")]}},
        "B": {
            "type": "object",
            "properties": {"a": _ref("A")},
            "additionalProperties": False,
            "x-links": {"self": _ref("B")},
        },
        "C": _ref("A"),
        "D": _ref("C"),
        "E": {"allOf": [_ref("A"), {"type": "object", "properties": {"e": {"type": "string"}}}]},
        "Any": {"oneOf": [_ref("C"), _ref("B")], "discriminator": {"propertyName": "kind", "mapping": {"c": "C"}}},
    }
    spec = _spec(
        schemas,
        direct=_ref("A"),
        through_property=_ref("B"),
        through_all_of={"allOf": [_ref("A"), {"type": "object"}]},
        through_chain=_ref("D"),
        through_component_all_of=_ref("E"),
        through_union=_ref("Any"),
        as_items={"type": "array", "items": _ref("C")},
    )
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "apis.yaml"
    assert main(["import-openapi", str(tmp_path / "spec.json"), "--name", "api", "-o", str(out)]) == 0
    assert main(["validate", str(out), "--offline"]) == 0
    assert "#/components" not in out.read_text()
    endpoints = {e.name: e for e in load_config(out).apis[0].endpoints}
    good, bad = {"id": 1, "next": {"id": 2}}, {"id": 1, "next": {"id": "two"}}
    for name in ("direct", "through_all_of", "through_chain", "through_component_all_of", "through_union"):
        schema = endpoints[name].response_schema
        assert_self_contained(schema)
        assert _accepts(schema, good) and not _accepts(schema, bad), name
    assert _accepts(endpoints["through_property"].response_schema, {"a": good})
    assert not _accepts(endpoints["through_property"].response_schema, {"a": bad})
    assert _accepts(endpoints["as_items"].response_schema, [good, good])
    assert not _accepts(endpoints["as_items"].response_schema, [good, bad])


# --- the bugs the properties (and writing them) found, each with the smallest spec that showed it ---------


def test_vendor_extensions_are_left_out_so_no_ref_points_into_the_spec(spec_dir: pathlib.Path) -> None:
    """Found by the self-containment property: an ``x-*`` value was copied as it was, with its
    ``$ref: '#/components/schemas/A'``, which `validate` then refused. Swagger's x-nullable stays."""
    spec = _spec({"A": {"type": "string"}, "U": {"type": "object", "x-expand": _ref("A")}}, get_u=_ref("U"))
    assert _responses(_import(spec, spec_dir))["get_u"] == {"type": "object"}
    swagger = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/n": {
                "get": {
                    "operationId": "n",
                    "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/N"}}},
                }
            }
        },
        "definitions": {"N": {"type": "string", "x-nullable": True, "x-order": 1}},
    }
    schema = _responses(_import(swagger, spec_dir))["n"]
    assert schema == {"type": "string", "x-nullable": True}
    assert _accepts(schema, None) and not _accepts(schema, 1)


def test_discriminator_mapping_names_are_names_not_uris(spec_dir: pathlib.Path) -> None:
    """Found by the self-containment property: a bare mapping name was read as a URI reference, so
    ``a%41`` was percent-decoded to the different schema ``aA``, and ``a/b`` was fetched as a file."""
    schemas = {
        "a%41": {"type": "string"},
        "aA": {"type": "integer"},
        "a/b": {"type": "boolean"},
        "U": {
            "oneOf": [_ref("a%2541"), _ref("aA"), _ref("a~1b")],
            "discriminator": {
                "propertyName": "k",
                "mapping": {"x": "a%41", "y": "a/b", "z": "#/components/schemas/aA"},
            },
        },
    }
    schema = _responses(_import(_spec(schemas, u=_ref("U")), spec_dir))["u"]
    assert_self_contained(schema)
    mapped = {k: schema["$defs"][v.removeprefix("#/$defs/")] for k, v in schema["discriminator"]["mapping"].items()}
    assert mapped == {"x": {"type": "string"}, "y": {"type": "boolean"}, "z": {"type": "integer"}}
    unknown = _spec({"U": {"oneOf": [], "discriminator": {"propertyName": "k", "mapping": {"x": "Nope"}}}}, u=_ref("U"))
    with pytest.raises(
        SpecError, match=r"schemas/U/discriminator/mapping/x: discriminator mapping 'x': no schema named 'Nope'"
    ):
        _import(unknown, spec_dir)


def test_bare_mapping_names_are_the_entry_documents_components(tmp_path: pathlib.Path) -> None:
    """A discriminator in another file names components of the entry document (it was looked up in
    its own file: a broken $ref)."""
    pet = {
        "oneOf": [{"$ref": "openapi.json#/components/schemas/Cat"}],
        "discriminator": {"propertyName": "kind", "mapping": {"cat": "Cat"}},
    }
    (tmp_path / "pet.json").write_text(json.dumps(pet))
    spec = _spec({"Cat": {"type": "object", "properties": {"kind": {"type": "string"}}}}, pet={"$ref": "pet.json"})
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    schema = _responses(import_spec(str(tmp_path / "openapi.json"), name="x"))["pet"]
    assert_self_contained(schema)
    assert schema["discriminator"]["mapping"] == {"cat": "#/$defs/Cat"} and schema["oneOf"] == [{"$ref": "#/$defs/Cat"}]


def test_def_names_are_yaml_anchors(tmp_path: pathlib.Path) -> None:
    """Found by the self-containment property: a def named ``io.k8s.Pod`` shared by two operations
    made `import-openapi` crash writing the YAML anchor (``.`` is not allowed in one)."""
    pod = "io.k8s.api.core.v1.Pod"
    spec = _spec({pod: {"type": "object"}}, a={"type": "array", "items": _ref(pod)}, b=_ref(pod) | {"nullable": True})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "apis.yaml"
    assert main(["import-openapi", str(tmp_path / "spec.json"), "--name", "k8s", "-o", str(out)]) == 0
    assert "io_k8s_api_core_v1_Pod: &io_k8s_api_core_v1_Pod" in out.read_text()
    assert main(["validate", str(out), "--offline"]) == 0


def test_def_names_never_share_a_generated_validator_function(spec_dir: pathlib.Path) -> None:
    """Found by the equivalence property: fastjsonschema names the function it generates for
    ``#/$defs/X`` after X lower-cased with trailing underscores dropped, so ``Pet``/``pet`` (or
    ``__``/``____``) shared one function and, once warmed up, values were checked against the wrong def."""
    schemas = {
        "Pet": {"type": "string"},
        "pet": {"type": "integer"},
        "__": {"type": "boolean"},
        "____": {"type": "null"},
    }
    body = {"type": "object", "properties": {k: _ref(k) for k in schemas}}
    schema = _responses(_import(_spec(schemas, both=body), spec_dir))["both"]
    assert len({re.sub(r"[^a-z0-9]", "_", name.lower()).rstrip("_") for name in schema["$defs"]}) == 4
    assert _accepts(schema, {"Pet": "x", "pet": 1, "__": True, "____": None})
    assert not _accepts(schema, {"pet": "x"}) and not _accepts(schema, {"____": True})
    # A hand-written config with such names stays on the slower validator, whose verdict is right.
    handwritten = {"properties": {"a": {"$ref": "#/$defs/Pet"}, "b": {"$ref": "#/$defs/pet"}}, "$defs": schemas}
    validator = SchemaValidator(handwritten, "request", "body")
    with pytest.raises(ValueError, match="share one generated function"):
        validator.compile()
    assert validator.violation({"a": "x", "b": 1}) is None and validator.violation({"b": "x"}) is not None


def test_read_only_through_a_chain_of_refs(spec_dir: pathlib.Path) -> None:
    """Found writing the equivalence property: ``readOnly`` was looked up one ``$ref`` away, so a
    required property ``{$ref: C}`` with ``C -> A`` and A readOnly was required in requests when
    written in the spec's terms but not once bundled (the chain collapses to A). Both agree now."""
    spec = _spec({"C": _ref("A"), "A": {"type": "string", "readOnly": True}})
    spec["paths"]["/p"] = {
        "post": {
            "operationId": "p",
            "responses": {},
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"p": _ref("C")}, "required": ["p"]}
                    }
                }
            },
        }
    }
    (endpoint,) = _import(spec, spec_dir).api["endpoints"]
    assert _accepts(endpoint["request_body"], {}, "request")  # readOnly: the client does not send it
    assert not _accepts(endpoint["request_body"], {}, "response")
    converted = openapi_to_json_schema(
        spec["paths"]["/p"]["post"]["requestBody"]["content"]["application/json"]["schema"], "request", root=spec
    )
    assert "required" not in converted
    percent = {"properties": {"p": {"$ref": "#/$defs/a%25b"}}, "required": ["p"], "$defs": {"a%b": {"readOnly": True}}}
    assert "required" not in openapi_to_json_schema(percent, "request")  # a URI fragment: percent-decoded


def test_boolean_schema_behind_a_root_ref(spec_dir: pathlib.Path) -> None:
    """OpenAPI 3.1 allows ``true``/``false`` as schemas; one behind a root ``$ref`` crashed (TypeError)."""
    spec = _spec({"T": True, "F": False}, t=_ref("T"), f=_ref("F")) | {"openapi": "3.1.0"}
    schemas = _responses(_import(spec, spec_dir))
    assert schemas["t"] == {"$ref": "#/$defs/T", "$defs": {"T": True}}
    assert _accepts(schemas["t"], {"any": "thing"}) and not _accepts(schemas["f"], None)


def test_draft_7_dependencies_are_bundled(spec_dir: pathlib.Path) -> None:
    spec = _spec({"X": {"type": "object"}, "U": {"dependencies": {"a": _ref("X"), "b": ["c"]}}}, u=_ref("U"))
    schema = _responses(_import(spec, spec_dir))["u"]
    assert schema["dependencies"] == {"a": {"$ref": "#/$defs/X"}, "b": ["c"]}
    assert_self_contained(schema)


@pytest.mark.parametrize(
    "schemas",
    [
        {"A": {"allOf": [_ref("B")]}, "B": {"anyOf": [{"type": "string"}, _ref("A")]}},
        {"A": {"not": _ref("A")}},
        {"A": _ref("B") | {"description": "a"}, "B": _ref("A") | {"nullable": True}},
        {"A": {"if": {"type": "object"}, "then": _ref("A")}},
    ],
)
def test_a_cycle_that_never_reaches_a_property_or_item_is_refused(
    spec_dir: pathlib.Path, schemas: dict[str, Any]
) -> None:
    """Such a schema imported, and then every call whose value reached it failed with a
    RecursionError in the validator (jsonschema and the compiled one alike)."""
    with pytest.raises(SpecError, match=r"\$ref cycle that never reaches a property or an item .*schemas/A"):
        _import(_spec(schemas, a=_ref("A")), spec_dir)
    # Through a property (or an item) the same shapes are recursion, and fine.
    fine = _spec({"A": {"anyOf": [{"type": "string"}, {"properties": {"a": _ref("A")}}]}}, a=_ref("A"))
    assert _accepts(_responses(_import(fine, spec_dir))["a"], {"a": {"a": "x"}})


def test_schema_nesting_is_bounded(spec_dir: pathlib.Path) -> None:
    """A spec is untrusted input: nesting the recursive conversion (and every later walk) cannot
    follow is a clear error, not a RecursionError."""

    def nested(levels: int) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        for _ in range(levels):
            schema = {"type": "object", "properties": {"a": schema}}
        return schema

    assert _import(_spec({}, ok=nested(40)), spec_dir).api["endpoints"]
    with pytest.raises(SpecError, match=r"schema nested more than 100 levels deep"):
        _import(_spec({}, deep=nested(60)), spec_dir)


def test_a_broken_def_fails_each_user_the_same_way_and_no_other() -> None:
    """With operations imported one by one (a bad one skipped), a def whose conversion failed stayed
    half-registered (the next operation using it hit a KeyError), and defs an operation left pending
    when it failed were drained by the next one, which failed on their errors instead of its own."""
    uri = "file:///spec.json"
    document = {
        "components": {
            "schemas": {
                "Bad": {"properties": {"x": 5}},
                "UsesBad": {"properties": {"b": _ref("Bad")}},
                "Cycle1": {"allOf": [_ref("Cycle2")]},
                "Cycle2": {"anyOf": [_ref("Cycle1")]},
                "Fine": {"type": "string"},
            }
        }
    }
    resolver = Resolver(FetchPolicy())
    resolver.add_document(uri, document)
    bundler = SchemaBundler(resolver, (uri, "/components/schemas"))
    at = (uri, "/paths/op")
    with pytest.raises(SpecError, match=r"broken \$ref"):
        bundler.bundle({"allOf": [_ref("Cycle1"), _ref("Bad"), _ref("Missing")]}, at)  # leaves Cycle1, Bad pending
    assert bundler.bundle(_ref("Fine"), at) == {"type": "string"}
    for _ in range(2):
        for name in ("Bad", "UsesBad"):
            with pytest.raises(SpecError, match=r"a schema must be a mapping, not int"):
                bundler.bundle(_ref(name), at)
        with pytest.raises(SpecError, match=r"\$ref cycle that never reaches a property"):
            bundler.bundle({"properties": {"c": _ref("Cycle2")}}, at)
    assert bundler.bundle({"items": _ref("Fine")}, at) == {
        "items": {"$ref": "#/$defs/Fine"},
        "$defs": {"Fine": {"type": "string"}},
    }


def test_a_redirected_spec_is_fetched_once() -> None:
    """Refs resolve against the final URL of a redirected spec, where it was not cached: fetched twice."""
    spec = json.dumps(_spec({"A": {"type": "string"}}, a=_ref("A"))).encode()
    fetched: Counter[str] = Counter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            fetched[self.path] += 1
            if self.path == "/latest":
                self.send_response(302)
                self.send_header("Location", "/v2/spec.json")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(spec)))
            self.end_headers()
            self.wfile.write(spec)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/latest"
        result = import_spec(url, name="x", allow_http=True, allow_private_network=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert _responses(result)["a"] == {"type": "string"}
    assert fetched == {"/latest": 1, "/v2/spec.json": 1}
