"""What a schema of a generated spec means, read in the whole original document.

The importer's output is compared with this reference: the spec's schemas go through the same
OpenAPI-to-JSON-Schema step the sidecar applies (``nullable``, ``readOnly``/``writeOnly``, 3.0
boolean ``exclusiveMinimum``, ``format: int32``), and references are resolved by ``referencing``
with the whole document as one resource, with the sidecar's own validator class (RE2 patterns,
its format checks). Instances come from ``hypothesis-jsonschema`` against the original (with
recursion unrolled a few levels: a subset of what the original accepts) plus near misses.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from custom_api_sidecar.validation import openapi_to_json_schema
from custom_api_sidecar.validation._libraries import linear_validator_class
from custom_api_sidecar.validation._validator import _format_checker
from custom_api_sidecar.validation.keywords import SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED
from tests._support.spec_graphs import Direction, GeneratedSpec

URI = "urn:generated-spec"
DATA_KEYWORDS = frozenset({"enum", "const", "default", "example", "examples"})


def tokens(ptr: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr.split("/")[1:]] if ptr else []


def at(document: Any, ptr: str) -> Any:
    node = document
    for token in tokens(ptr):
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _put(document: Any, ptr: str, value: Any) -> None:
    *parents, last = tokens(ptr)
    node = document
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


class Original:
    """The spec's schemas for one direction, converted in place and resolvable as one document."""

    def __init__(self, spec: GeneratedSpec, direction: Direction) -> None:
        raw = spec.document
        self.document = copy.deepcopy(raw)
        components = at(raw, spec.components)
        positions = [f"{spec.components}/{n.replace('~', '~0').replace('/', '~1')}" for n in components]
        positions += [slot.pointer for slot in spec.slots if slot.direction == direction]
        for ptr in positions:
            _put(self.document, ptr, openapi_to_json_schema(at(raw, ptr), direction, root=raw))
        resource = DRAFT202012.create_resource(self.document)
        self._registry: Registry[Any] = Registry().with_resource(URI, resource)

    def validator(self, ptr: str) -> Any:
        schema = {"$ref": f"{URI}#{quote(ptr, safe='/~')}"}
        return linear_validator_class()(schema, registry=self._registry, format_checker=_format_checker())

    def instances(self, ptr: str, unroll: int = 2) -> st.SearchStrategy[list[Any]]:
        """A few instances the original accepts: recursion beyond ``unroll`` levels is cut at
        optional places (an absent property, an empty array), which only narrows what is drawn."""
        try:
            schema = _Unrolled(self.document, unroll).schema(at(self.document, ptr), 0)
        except _TooBig:
            return st.just([])
        valid = from_schema(schema)
        return st.just([]) if valid.is_empty else st.lists(valid, max_size=3)


class _TooBig(Exception):
    pass


class _Unrolled:
    MAX_NODES = 600  # past this, hypothesis-jsonschema takes seconds: seeds and near misses only

    def __init__(self, document: Any, unroll: int) -> None:
        self.document = document
        self.unroll = unroll
        self.nodes = 0

    def resolve(self, ref: str) -> Any:
        assert ref.startswith("#"), ref
        return at(self.document, unquote(ref[1:]))

    def schema(self, node: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.MAX_NODES:
            raise _TooBig
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # converted: a $ref never has siblings
            return self.schema(self.resolve(node["$ref"]), depth)
        cut = depth >= self.unroll
        required = set(node.get("required") or ())
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in SCHEMA_MAP_VALUED and isinstance(value, dict):
                out[key] = {
                    name: False
                    if cut and (key != "properties" or name not in required)
                    else self.schema(sub, depth + 1)
                    for name, sub in value.items()
                }
            elif key in ("items", "additionalProperties") and isinstance(value, (dict, bool)):
                optional = key == "additionalProperties" or not node.get("minItems")
                out[key] = False if cut and optional else self.schema(value, depth + 1)
            elif key in SCHEMA_LIST_VALUED and isinstance(value, list):
                out[key] = [self.schema(sub, depth) for sub in value]
            elif key in SCHEMA_VALUED and isinstance(value, (dict, bool)):
                out[key] = self.schema(value, depth)
            elif not key.startswith("x-"):  # vendor data: no meaning to a validator
                out[key] = value
        return out


SEEDS = (None, True, 0, 7, -1, 2**31, 1.5, "", "a", "zz", [], [None], {}, {"p": "a"}, {"kind": "v0", "q": 1})
_REPLACEMENTS = st.sampled_from((None, True, 0, 6, -1, 2**31, 0.5, "", "c", "ab", [], ["a"], {}, {"x1": 1}))


def without_each_key(value: Any) -> Iterator[Any]:
    """``value`` with one property left out, for each property at the top and one level down:
    where ``required`` (and what readOnly/writeOnly take out of it) shows."""
    if isinstance(value, dict):
        for key in sorted(value)[:6]:
            yield {k: v for k, v in value.items() if k != key}
            for inner in itertools.islice(without_each_key(value[key]), 3):
                yield {**value, key: inner}


@st.composite
def near_misses(draw: Any, value: Any) -> Any:
    """``value`` with one change somewhere inside: a value of another type or just out of
    bounds, a key removed or added (``x``-prefixed ones meet patternProperties), an item more."""
    out = copy.deepcopy(value)
    path: list[Any] = []
    node = out
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    change = draw(st.sampled_from(("replace", "grow", "shrink", "nudge")))
    if change == "grow" and isinstance(node, dict):
        node[draw(st.sampled_from(("p", "q", "kind", "x1", "zz", "$ref")))] = draw(_REPLACEMENTS)
        return out
    if change == "grow" and isinstance(node, list):
        node.append(draw(_REPLACEMENTS))
        return out
    if change == "shrink" and isinstance(node, (dict, list)) and node:
        del node[draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))]
        return out
    if change == "nudge" and isinstance(node, int) and not isinstance(node, bool):
        new: Any = node + draw(st.sampled_from((-1, 1)))
    elif change == "nudge" and isinstance(node, str):
        new = node + draw(st.sampled_from(("a", "c", "~")))
    else:
        new = draw(_REPLACEMENTS)
    if not path:
        return new
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return out


def references(schema: Any) -> Iterator[str]:
    """Every reference in an emitted schema: ``$ref`` values outside data keywords, and
    ``discriminator.mapping`` values."""
    if isinstance(schema, list):
        for item in schema:
            yield from references(item)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "discriminator" and isinstance(value, dict) and isinstance(value.get("mapping"), dict):
                yield from (v for v in value["mapping"].values() if isinstance(v, str))
            elif key not in DATA_KEYWORDS:
                yield from references(value)
