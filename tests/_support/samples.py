"""Valid values built from a JSON Schema (OpenAPI flavour), for calling real APIs in tests.

Deterministic and minimal: required properties only (unless asked for all),
the first enum value, a value of the right format, bounds respected.
"""

from __future__ import annotations

from typing import Any

_STRING_FORMATS = {
    "date": "2024-05-17",
    "date-time": "2024-05-17T09:30:00Z",
    "email": "ada@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com/x",
    "url": "https://example.com/x",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "binary": "file-content",
    "byte": "aGVsbG8=",
}


def sample(schema: Any, root: dict[str, Any] | None = None, all_properties: bool = False, depth: int = 0) -> Any:
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _resolve(schema, root)
    if not isinstance(schema, dict) or depth > 8:
        return "x"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    if "example" in schema and schema["example"] is not None and not isinstance(schema["example"], (dict, list)):
        return schema["example"]
    for key in ("allOf",):
        if schema.get(key):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != key}
            for part in schema[key]:
                part = _resolve(part, root)
                merged.setdefault("properties", {}).update(part.get("properties") or {})
                merged["required"] = [*merged.get("required", []), *(part.get("required") or [])]
                for k, v in part.items():
                    merged.setdefault(k, v)
            return sample(merged, root, all_properties, depth + 1)
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return sample(schema[key][0], root, all_properties, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if t != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "string":
        text = _STRING_FORMATS.get(schema.get("format", ""), "sample")
        minimum, maximum = schema.get("minLength", 0), schema.get("maxLength")
        if len(text) < minimum:
            text = text + "x" * (minimum - len(text))
        return text[:maximum] if maximum else text
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, int(low) + 1) if isinstance(low, (int, float)) and not isinstance(low, bool) else 1
        high = schema.get("maximum")
        if isinstance(high, (int, float)) and value > high:
            value = int(high)
        return value
    if kind == "boolean":
        return True
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [sample(schema.get("items", {}), root, all_properties, depth + 1) for _ in range(count)]
    properties = schema.get("properties") or {}
    names = list(properties) if all_properties else list(schema.get("required") or [])
    out = {name: sample(properties.get(name, {}), root, False, depth + 1) for name in names if name in properties}
    if not properties and isinstance(schema.get("additionalProperties"), dict):
        out = {"key": sample(schema["additionalProperties"], root, False, depth + 1)}
    return out


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        schema, seen = target, seen + 1
    return schema
