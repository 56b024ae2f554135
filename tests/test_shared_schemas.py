"""Validators of one config share prepared definitions (``validation/_shared.py``) and the
warm-up compiles up to a budget (``validation/_warmup.py``): neither may change a verdict."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.openapi import import_spec
from custom_api_sidecar.registry import Registry
from custom_api_sidecar.validation import SchemaCache, SchemaError, SchemaValidator, ValidatorWarmup
from custom_api_sidecar.validation._libraries import fast_meta_check, meta_format_checker
from custom_api_sidecar.validation._validator import _check_part, _Keyed
from tests.specs import scale_spec


def test_sharing_changes_nothing_a_validator_holds(tmp_path: pathlib.Path) -> None:
    """Every schema of a generated big spec, prepared with one cache and each on its own."""
    spec = scale_spec.write(tmp_path / "spec.json", 60)
    endpoints = import_spec(str(spec), name="big").api["endpoints"]
    places = (("request_body", "request"), ("response_schema", "response"))
    schemas = [(e[key], direction) for e in endpoints for key, direction in places if key in e]
    cache = SchemaCache()
    shared = [SchemaValidator(schema, direction, "body", cache) for schema, direction in schemas]
    for validator, (schema, direction) in zip(shared, schemas, strict=True):
        alone = SchemaValidator(schema, direction, "body")
        assert (validator.schema, validator.key, validator.unenforced) == (alone.schema, alone.key, alone.unenforced)
    assert any(len(schema.get("$defs", ())) > 10 for schema, _ in schemas)  # definitions to share


@pytest.mark.parametrize("first", ["read_only", "plain"])
def test_a_definition_converts_again_where_its_document_answers_differently(first: str) -> None:
    """``Thing`` requires ``id``; in one document ``Id`` is readOnly (not required in a request)."""
    thing = {"type": "object", "required": ["id", "name"], "properties": {"id": {"$ref": "#/$defs/Id"}}}
    documents = {
        "read_only": {"$ref": "#/$defs/Thing", "$defs": {"Thing": thing, "Id": {"type": "string", "readOnly": True}}},
        "plain": {"$ref": "#/$defs/Thing", "$defs": {"Thing": thing, "Id": {"type": "string"}}},
    }
    cache = SchemaCache()
    order = [first, *(name for name in documents if name != first)]
    validators = {name: SchemaValidator(documents[name], "request", "body", cache) for name in order}
    assert validators["read_only"].violation({"name": "x"}) is None
    violation = validators["plain"].violation({"name": "x"})
    assert violation is not None and violation.keyword == "required"


def test_equal_schemas_share_one_prepared_copy() -> None:
    cache = SchemaCache()
    one = SchemaValidator({"type": "object", "properties": {"a": {"type": "integer"}}}, "request", "body", cache)
    two = SchemaValidator({"type": "object", "properties": {"a": {"type": "integer"}}}, "request", "body", cache)
    assert one.schema is two.schema and one.key == two.key


def test_a_shared_pattern_re2_cannot_run_is_named_in_every_document() -> None:
    code = {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]+$"}
    cache = SchemaCache()
    for root in (
        {"$ref": "#/$defs/Code", "$defs": {"Code": code}},
        {"items": {"$ref": "#/$defs/Code"}, "$defs": {"Code": code}},
    ):
        (item,) = SchemaValidator(root, "request", "body", cache).unenforced
        assert item.where == "/$defs/Code/pattern"


def test_a_schema_json_cannot_hold_is_a_config_problem() -> None:
    text = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints:
      - name: find
        method: POST
        path: /find
        request_body:
          type: object
          properties:
            ? 2024-01-01
            : {type: string}
"""
    with pytest.raises(ConfigError, match=r"endpoints\.find\.request_body.*not a JSON document"):
        Registry(parse_config(text, "apis.yaml"), "sandbox")


keywords = st.sampled_from(
    ["type", "properties", "items", "required", "enum", "minimum", "maxLength", "pattern", "$ref", "anyOf",
     "additionalProperties", "format", "const", "patternProperties", "dependencies", "not", "minItems", "default"]
)  # fmt: skip
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["string", "object", "integer", "#/$defs/a", "[", "^a+$", "(?=x)", "email", ""]),
    ),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keywords | st.text(max_size=3), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(schema=st.dictionaries(keywords, values, max_size=4))
def test_the_fast_meta_check_never_passes_what_jsonschema_refuses(schema: dict[str, Any]) -> None:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError as MetaSchemaError

    try:
        Draft7Validator.check_schema(schema, format_checker=meta_format_checker())
        valid = True
    except MetaSchemaError:
        valid = False
    try:
        fast_meta_check()(schema)
        assert valid, "fastjsonschema passed a schema jsonschema refuses"
    except Exception:
        pass  # refused: jsonschema looks again, and its verdict is the one that counts
    try:
        _check_part.__wrapped__(_Keyed("", schema))
        assert valid
    except SchemaError:
        assert not valid


def _validators(sizes: list[int]) -> list[SchemaValidator]:
    return [
        SchemaValidator({"type": "object", "properties": {f"p{i}": {"maximum": i} for i in range(n)}}, "request", "b")
        for n in sizes
    ]


async def test_the_warm_up_compiles_the_smallest_schemas_up_to_its_budget() -> None:
    validators = _validators([40, 1, 20, 5])
    by_size = sorted(validators, key=lambda v: v.size)
    before = [v.violation({"p0": 7}) for v in validators]
    warmup = ValidatorWarmup(validators, budget=by_size[0].size + by_size[1].size)
    await warmup.start()
    assert warmup.done.wait(30)
    await warmup.aclose()
    assert [v.compiled for v in by_size] == [True, True, False, False]
    assert [v.violation({"p0": 7}) for v in validators] == before
