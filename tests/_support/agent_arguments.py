"""Hypothesis strategies for the keyword arguments an agent sends to an operation,
built from the operation's ``input_schema`` (what ``conv.api.<api>.schema()`` shows).

The input schemas are OpenAPI-flavoured (``nullable``, ``readOnly``, int32/int64,
``byte``/``binary``/``uuid`` formats, recursive ``$defs``); ``plain_schema`` turns one
into the plain JSON Schema ``hypothesis-jsonschema`` reads, and bounds it to what a
real agent would send: short strings, a few items, simple extra property names,
integers within their format (int64 within JavaScript's safe integers, as Prism reads
them). Every value drawn is valid against the spec's schema. A parameter holding a JSON
document (``content``) is drawn from its ``contentSchema`` and sent as JSON text.

Per location, what HTTP itself cannot carry is left out (and documented in the README):
header strings are visible ASCII without leading or trailing spaces (a header value
holds no other characters, and spaces around it are not part of it); path strings
are never empty, ``.`` or ``..`` (the sidecar refuses those: they would name
another resource); strings inside array or object parameters hold no "," "|" or "="
(a style cannot tell them from its delimiters).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

MAX_STRING = 12  # characters of a string with no larger minLength
MAX_ITEMS = 3
MAX_EXTRA_PROPERTIES = 2
INLINE_DEPTH = 3  # how deep a recursive $ref is unrolled before its property is left out
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**53) + 1, 2**53 - 1)}  # Prism: JS safe integers
_DEFAULT_INT_RANGE = (-(10**9), 10**9)
_NUMBER_RANGE = (-1e9, 1e9)
# Formats hypothesis-jsonschema does not know, which the sidecar and Prism both check.
CUSTOM_FORMATS = {
    "uuid": st.uuids().map(str),
    "byte": st.binary(max_size=9).map(lambda b: __import__("base64").b64encode(b).decode()),
    "binary": st.text(max_size=MAX_STRING),
}
_HEADER_TEXT = r"^[!-~]([ -~]{0,10}[!-~])?$"  # visible ASCII, no space at either end
# Inside an array or object parameter, the style's delimiters (",", "|", "=") would split the item:
# OpenAPI styles cannot tell them apart from the value's own, and Prism splits after decoding.
_HEADER_ITEM = r"^[!-+\--<>-~]([ -+\--<>-~]{0,10}[!-+\--<>-~])?$"
_PARAMETER_ITEM = r"^[^,|=]*$"
_EXTRA_NAME = r"^[a-z][a-z0-9_]{0,7}$"
_UNSATISFIABLE: dict[str, Any] = {"not": {}}
# Keywords that say what kind of value a schema takes; a schema with none of them takes any value.
_SHAPING = frozenset(
    {"type", "enum", "const", "allOf", "anyOf", "oneOf", "not", "properties", "items", "additionalProperties"}
)


def arguments(operation: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for one operation: required ones always, optional ones sometimes."""
    schema = operation["input_schema"]
    defs = schema.get("$defs") or {}
    locations = {p["name"]: p["in"] for p in operation["parameters"]}
    binary = _binary_properties(schema)
    # A parameter with `content` is a serialized document: draw the document, send its JSON text.
    documents = {name for name, prop in schema["properties"].items() if _json_document(prop)}
    properties = {
        name: plain_schema(prop["contentSchema"] if name in documents else prop, defs, locations.get(name, "body"))
        for name, prop in schema["properties"].items()
    }
    top = {"type": "object", "properties": properties, "additionalProperties": False}
    if schema.get("required"):
        top["required"] = list(schema["required"])

    def as_sent(kwargs: dict[str, Any]) -> dict[str, Any]:
        # A `format: binary` property is a file part: the agent passes bytes.
        out = {k: v.encode() if k in binary and isinstance(v, str) else v for k, v in kwargs.items()}
        return {k: json.dumps(v) if k in documents else v for k, v in out.items()}

    return from_schema(top, custom_formats=CUSTOM_FORMATS).map(as_sent)


def _json_document(prop: dict[str, Any]) -> bool:
    media = str(prop.get("contentMediaType", "")).split(";")[0].strip().lower()
    return "contentSchema" in prop and (media == "application/json" or media.endswith("+json"))


def _binary_properties(schema: dict[str, Any]) -> set[str]:
    return {name for name, prop in schema["properties"].items() if prop.get("format") == "binary"}


def plain_schema(schema: Any, defs: dict[str, Any], location: str = "body") -> Any:
    """``schema`` as bounded plain JSON Schema for one location (path, query, header, body)."""
    return _Plain(defs, location).convert(schema, 0)


class _Plain:
    def __init__(self, defs: dict[str, Any], location: str) -> None:
        self.defs = defs
        self.location = location

    def convert(self, node: Any, depth: int, inner: bool = False) -> Any:
        """``inner``: an array item or property value inside a parameter."""
        if isinstance(node, bool) or not isinstance(node, dict):
            return node
        if isinstance(node.get("$ref"), str):
            if depth >= INLINE_DEPTH:
                return _UNSATISFIABLE
            target = self.defs.get(node["$ref"].removeprefix("#/$defs/"), {})
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged, depth + 1, inner)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "definitions", "discriminator", "xml", "externalDocs", "example", "examples"):
                continue
            if key in ("properties", "patternProperties"):
                kept = {k: v for k, v in value.items() if not (isinstance(v, dict) and v.get("readOnly"))}
                out[key] = {k: self.convert(v, depth, True) for k, v in kept.items()}
            elif key in ("items", "additionalProperties", "contains", "prefixItems"):
                convert = self.convert
                out[key] = (
                    [convert(v, depth, True) for v in value] if isinstance(value, list) else convert(value, depth, True)
                )
            elif key in ("allOf", "anyOf", "oneOf", "not", "propertyNames"):
                convert = self.convert
                out[key] = (
                    [convert(v, depth, inner) for v in value]
                    if isinstance(value, list)
                    else convert(value, depth, inner)
                )
            else:
                out[key] = copy.deepcopy(value)
        if "required" in out and "properties" in node:
            read_only = {k for k, v in node["properties"].items() if isinstance(v, dict) and v.get("readOnly")}
            out["required"] = [r for r in out["required"] if r not in read_only]
        self._bound(out, inner)
        if out.pop("nullable", False) is True:
            out = {"anyOf": [out, {"type": "null"}]}
        return out

    def _bound(self, out: dict[str, Any], inner: bool = False) -> None:
        if not _SHAPING & set(out):  # any value at all: a short scalar (a string for a parameter)
            out["type"] = ["string", "integer", "boolean"] if self.location == "body" else "string"
        kinds = out.get("type")
        kinds = set(kinds) if isinstance(kinds, list) else {kinds} if kinds else set()
        if "string" in kinds:
            self._bound_string(out, inner)
        if kinds & {"integer", "number"}:
            low, high = _INT_RANGES.get(out.get("format", ""), _DEFAULT_INT_RANGE)
            if "number" in kinds and "integer" not in kinds:
                low, high = _NUMBER_RANGE
            if not isinstance(out.get("minimum"), (int, float)) or out["minimum"] < low:
                out["minimum"] = low
            if not isinstance(out.get("maximum"), (int, float)) or out["maximum"] > high:
                out["maximum"] = high
        if "array" in kinds or "items" in out:
            out["maxItems"] = max(min(out.get("maxItems", MAX_ITEMS), MAX_ITEMS), out.get("minItems", 0))
        if ("object" in kinds or "properties" in out) and out.get("additionalProperties") is not False:
            declared = list(out.get("properties") or {})
            out["propertyNames"] = (
                {"anyOf": [{"enum": declared}, {"pattern": _EXTRA_NAME}]} if declared else {"pattern": _EXTRA_NAME}
            )
            if out.get("additionalProperties", True) is True:
                out["additionalProperties"] = {"type": ["string", "integer", "boolean"]}
                self._bound(out["additionalProperties"], True)
            known = len(out.get("properties") or {})
            out.setdefault("maxProperties", known + MAX_EXTRA_PROPERTIES)

    def _bound_string(self, out: dict[str, Any], inner: bool) -> None:
        if "enum" in out or "const" in out or out.get("format") in ("date", "date-time", "uuid", "email", "byte"):
            return
        out["maxLength"] = max(min(out.get("maxLength", MAX_STRING), MAX_STRING), out.get("minLength", 0))
        if self.location == "header" and "pattern" not in out:
            out["pattern"] = _HEADER_ITEM if inner else _HEADER_TEXT
        elif self.location in ("query", "path") and inner and "pattern" not in out:
            out["pattern"] = _PARAMETER_ITEM
        if self.location == "path":
            out["minLength"] = max(out.get("minLength", 0), 1)
            out["not"] = {"enum": [".", ".."]}
