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
# Annotations: no validator looks at them (fastjsonschema runs with use_default=False). Left out of
# the copies validators keep when ``annotations=False``: descriptions are half of a big spec.
_ANNOTATIONS = frozenset({"description", "title", "examples", "default", "$comment", "readOnly", "writeOnly"})


# What converting a schema looked up elsewhere in its document: (reference, flag, whether the
# referenced schema has the flag). The same schema converts the same way in any document where
# these lookups give the same answers (``SchemaCache`` shares conversions on that condition).
Lookups = list[tuple[str, str, bool]]


def skipped_flag(direction: Direction) -> str:
    """The flag whose properties are not required in this direction."""
    return "readOnly" if direction == "request" else "writeOnly"


def openapi_to_json_schema(schema: Any, direction: Direction, *, root: Any = None) -> Any:
    """A converted deep copy of ``schema``; the input is not modified. ``root`` is the document
    its local ``$ref``s point into (default: the schema itself, as in a self-contained schema)."""
    skipped = skipped_flag(direction)
    if not isinstance(schema, dict):
        return schema
    root = schema if root is None else root
    # Definitions stay at the top, where the "#/$defs/..." references point,
    # even when the root itself gets wrapped (a nullable root).
    out = convert_body(schema, skipped, root=root)
    if "$defs" in schema or "definitions" in schema:
        out = dict(out)
        for key in ("$defs", "definitions"):
            if isinstance(schema.get(key), dict):
                out[key] = {name: convert(sub, skipped, root) for name, sub in schema[key].items()}
    return out


def convert_body(schema: dict[str, Any], skipped: str, annotations: bool = True, root: Any = None) -> Any:
    """The document without its definitions, converted (``root``: the document its references
    point into, by default ``schema`` itself)."""
    body = {k: v for k, v in schema.items() if k not in DEFINITIONS}
    return convert(body, skipped, schema if root is None else root, annotations=annotations)


def convert(
    schema: Any, skipped: str, root: dict[str, Any], lookups: Lookups | None = None, annotations: bool = True
) -> Any:
    """One schema of the document ``root``, converted; ``lookups`` collects what it looked up in ``root``.
    ``annotations=False`` leaves out what never changes a verdict (descriptions, ``x-`` extensions)."""
    if not isinstance(schema, dict):
        return schema  # true/false schemas
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or (not annotations and (key in _ANNOTATIONS or str(key).startswith("x-"))):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: convert(sub, skipped, root, lookups, annotations) for name, sub in value.items()}
        elif key in SCHEMA_LIST_VALUED and isinstance(value, list):
            out[key] = [convert(sub, skipped, root, lookups, annotations) for sub in value]
        elif key in SCHEMA_VALUED:
            out[key] = (
                [convert(s, skipped, root, lookups, annotations) for s in value]
                if isinstance(value, list)
                else convert(value, skipped, root, lookups, annotations)
            )
        else:
            out[key] = value
    _types(out)
    _bounds(out)
    _format(out)
    _required(out, schema, skipped, root, lookups)
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


def _required(
    out: dict[str, Any], original: dict[str, Any], skipped: str, root: dict[str, Any], lookups: Lookups | None
) -> None:
    required = out.get("required")
    properties = original.get("properties")
    if not isinstance(required, list) or not isinstance(properties, dict):
        return
    kept = [name for name in required if not _flagged(properties.get(name), skipped, root, lookups)]
    if len(kept) != len(required):
        if kept:
            out["required"] = kept
        else:
            del out["required"]


def _flagged(schema: Any, flag: str, root: dict[str, Any], lookups: Lookups | None) -> bool:
    """True when a property schema is readOnly/writeOnly, directly or through local $refs."""
    if not isinstance(schema, dict):
        return False
    if schema.get(flag) is True:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        found = ref_flagged(root, ref, flag)
        if lookups is not None:
            lookups.append((ref, flag, found))
        return found
    return False


def ref_flagged(root: dict[str, Any], ref: str, flag: str) -> bool:
    """Whether the schema a local ``#/...`` reference points at has ``flag: true``, directly or
    through a chain of local references (``C -> A`` with ``A`` readOnly flags ``C``)."""
    seen: set[str] = set()
    current: Any = ref
    while isinstance(current, str) and current.startswith("#/") and current not in seen:
        seen.add(current)
        target = _local(root, current)
        if not isinstance(target, dict):
            return False
        if target.get(flag) is True:
            return True
        current = target.get("$ref")
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
