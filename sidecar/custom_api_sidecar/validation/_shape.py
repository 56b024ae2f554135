"""The top-level properties of an object schema, seen through ``$ref`` and ``allOf``.

A request body given as keyword arguments needs its property names and which
are required; importers often wrap the body in ``{"$ref": "#/$defs/Name"}`` or
an ``allOf`` of a base and an extension, so looking only at ``properties``
would miss them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObjectShape:
    properties: dict[str, Any] = field(default_factory=dict)  # name -> property schema (refs point at the root)
    required: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset()  # properties a request need not (and should not) send


def object_shape(schema: dict[str, Any] | None) -> ObjectShape:
    if not isinstance(schema, dict):
        return ObjectShape()
    properties: dict[str, Any] = {}
    required: list[str] = []
    _collect(schema, schema, properties, required, depth=0)
    read_only = frozenset(name for name, sub in properties.items() if _resolve(schema, sub).get("readOnly") is True)
    return ObjectShape(properties, tuple(dict.fromkeys(required)), read_only)


def _collect(root: dict[str, Any], schema: Any, properties: dict[str, Any], required: list[str], depth: int) -> None:
    if not isinstance(schema, dict) or depth > 16:  # a $ref cycle at the top level names no properties
        return
    schema = _resolve(root, schema)
    for name, sub in (schema.get("properties") or {}).items():
        properties.setdefault(name, sub)
    required.extend(r for r in schema.get("required") or () if isinstance(r, str))
    for part in schema.get("allOf") or ():
        _collect(root, part, properties, required, depth + 1)


def _resolve(root: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/$defs/Name``) to the schema they name."""
    seen: set[str] = set()
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
        ref = schema["$ref"]
        seen.add(ref)
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key) if isinstance(target, dict) else None
        schema = target
    return schema if isinstance(schema, dict) else {}
