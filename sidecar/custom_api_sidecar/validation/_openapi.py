"""OpenAPI schema objects (3.0, 3.1, Swagger 2.0 via the importer) as plain JSON Schema.

The result means the same to any draft-7+ validator, so the compiled validator
and the one that explains a failure agree:
- ``nullable: true`` (and Swagger's ``x-nullable``) admits ``null``;
- a ``$ref`` with sibling keywords becomes ``allOf: [{$ref}]`` plus the siblings
  (OpenAPI 3.1 and draft 2019+ apply siblings, draft 7 would ignore them);
- boolean ``exclusiveMinimum``/``exclusiveMaximum`` (3.0, draft 4) become numbers;
- ``readOnly`` properties are not required in requests, ``writeOnly`` ones not in
  responses, as the OpenAPI specification says;
- ``format``: ``int32``/``int64`` become bounds, the formats in ``_formats`` are
  kept, every other format is dropped (an annotation, never a failure).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote

from ._formats import CHECKED_FORMATS, INT_RANGES
from .keywords import DEFINITIONS, SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED

Direction = Literal["request", "response"]

_JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
_SCHEMA_MAPS = SCHEMA_MAP_VALUED | DEFINITIONS
# Keywords whose values are data or documentation, never schemas.
_DROPPED = frozenset({"nullable", "x-nullable", "discriminator", "xml", "externalDocs", "example", "deprecated"})


def openapi_to_json_schema(schema: Any, direction: Direction, *, root: Any = None) -> Any:
    """A converted deep copy of ``schema``; the input is not modified. ``root`` is the document
    its local ``$ref``s point into (default: the schema itself, as in a self-contained schema)."""
    skipped = "readOnly" if direction == "request" else "writeOnly"
    if not isinstance(schema, dict):
        return schema
    root = schema if root is None else root
    # Definitions stay at the top, where the "#/$defs/..." references point,
    # even when the root itself gets wrapped (a nullable root).
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    out = _convert(body, skipped, root)
    if "$defs" in schema or "definitions" in schema:
        out = dict(out)
        for key in ("$defs", "definitions"):
            if isinstance(schema.get(key), dict):
                out[key] = {name: _convert(sub, skipped, root) for name, sub in schema[key].items()}
    return out


def _convert(schema: Any, skipped: str, root: Any) -> Any:
    if not isinstance(schema, dict):
        return schema  # true/false schemas
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _convert(sub, skipped, root) for name, sub in value.items()}
        elif key in SCHEMA_LIST_VALUED and isinstance(value, list):
            out[key] = [_convert(sub, skipped, root) for sub in value]
        elif key in SCHEMA_VALUED:
            out[key] = (
                [_convert(s, skipped, root) for s in value]
                if isinstance(value, list)
                else _convert(value, skipped, root)
            )
        else:
            out[key] = value
    _types(out)
    _bounds(out)
    _format(out)
    _required(out, schema, skipped, root)
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        out = _nullable(out)
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
    return out


def _types(out: dict[str, Any]) -> None:
    declared = out.get("type")
    if isinstance(declared, str) and declared not in _JSON_TYPES:
        del out["type"]  # Swagger's "file" and other non-JSON types say nothing checkable
    elif isinstance(declared, list):
        out["type"] = [t for t in declared if t in _JSON_TYPES] or None
        if out["type"] is None:
            del out["type"]


def _bounds(out: dict[str, Any]) -> None:
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and inclusive in out:
                out[exclusive] = out.pop(inclusive)


def _format(out: dict[str, Any]) -> None:
    fmt = out.get("format")
    if fmt is None:
        return
    if fmt in INT_RANGES:
        low, high = INT_RANGES[fmt]
        out["allOf"] = [*out.get("allOf", []), {"minimum": low, "maximum": high}]
    if fmt not in CHECKED_FORMATS or fmt in INT_RANGES:
        del out["format"]


def _required(out: dict[str, Any], original: dict[str, Any], skipped: str, root: Any) -> None:
    required = out.get("required")
    properties = original.get("properties")
    if not isinstance(required, list) or not isinstance(properties, dict):
        return
    kept = [name for name in required if not _flagged(properties.get(name), skipped, root)]
    if len(kept) != len(required):
        if kept:
            out["required"] = kept
        else:
            del out["required"]


def _flagged(schema: Any, flag: str, root: Any) -> bool:
    """True when a property schema is readOnly/writeOnly, directly or through local $refs
    (a chain of them: ``C -> A`` with ``A`` readOnly flags ``C``)."""
    seen: set[str] = set()
    while isinstance(schema, dict):
        if schema.get(flag) is True:
            return True
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            return False
        seen.add(ref)
        schema = _local(root, ref)
    return False


def _local(root: Any, ref: str) -> Any:
    """The node a local ``#/...`` reference names (a URI fragment: percent-decoded, then a JSON pointer)."""
    node = root
    for part in unquote(ref[2:]).split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _nullable(out: dict[str, Any]) -> dict[str, Any]:
    declared = out.get("type")
    if isinstance(declared, str):
        out["type"] = [declared, "null"]
    elif isinstance(declared, list):
        if "null" not in declared:
            out["type"] = [*declared, "null"]
    else:
        return {"anyOf": [out, {"type": "null"}]}
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out
