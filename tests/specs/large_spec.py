"""A generated OpenAPI 3.0 spec of about 2 MB: many tagged resources, shared component schemas,
cross-references and recursion between them (``tests/test_openapi_import.py``).

The spec the size and shape of the largest public APIs (13 MB, 1,200 operations) is
``scale_spec``; ``python -m bench.large_spec`` measures every command on it."""

from __future__ import annotations

import json
import pathlib
from typing import Any

SHARED = {
    "Money": {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer", "description": "Minor units."},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    },
    "Address": {
        "type": "object",
        "properties": {k: {"type": "string", "maxLength": 200} for k in ("line1", "line2", "city", "postcode")},
    },
    "Meta": {
        "type": "object",
        "properties": {
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
}
_FILLER = (
    "This field is part of a generated specification used to check that the importer copes with large "
    "documents: it repeats text so the file has the size of real-world specs. "
)


def _resource_schemas(name: str, neighbour: str, index: int) -> dict[str, Any]:
    fields = {
        f"field_{j}": {"type": ["string", "integer", "boolean", "number"][j % 4], "description": _FILLER * 2}
        for j in range(14)
    }
    return {
        f"New{name}": {
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 120},
                "status": {"type": "string", "enum": ["draft", "active", "archived"]},
                "price": {"$ref": "#/components/schemas/Money"},
                "address": {"$ref": "#/components/schemas/Address"},
                **fields,
            },
        },
        name: {
            "allOf": [
                {"$ref": f"#/components/schemas/New{name}"},
                {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string", "readOnly": True},
                        "meta": {"$ref": "#/components/schemas/Meta"},
                        "parent": {"$ref": f"#/components/schemas/{name}"},
                        "children": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
                        "related": {"$ref": f"#/components/schemas/{neighbour}Summary"},
                        "rank": {"type": "integer", "minimum": 0, "maximum": index + 10},
                    },
                },
            ]
        },
        f"{name}Summary": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
        },
        f"{name}List": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
                "next_cursor": {"type": "string", "nullable": True},
            },
        },
    }


def _operations(name: str, slug: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    body = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/New{name}"}}}}

    def ok(schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "default": {"$ref": "#/components/responses/Error"},
        }

    item_id = {"name": f"{slug}_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        f"/{slug}": {
            "get": {
                "operationId": f"list{name}",
                "tags": [slug],
                "summary": f"List {slug}",
                "description": _FILLER,
                "parameters": [
                    {"$ref": "#/components/parameters/Limit"},
                    {"$ref": "#/components/parameters/Cursor"},
                    {"name": "status", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                ],
                "responses": ok({"$ref": f"#/components/schemas/{name}List"}),
            },
            "post": {
                "operationId": f"create{name}",
                "tags": [slug],
                "summary": f"Create a {name}",
                "requestBody": body,
                "responses": ok(ref),
            },
        },
        f"/{slug}/{{{slug}_id}}": {
            "parameters": [item_id, {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}}],
            "get": {"operationId": f"get{name}", "tags": [slug], "responses": ok(ref)},
            "patch": {"operationId": f"update{name}", "tags": [slug], "requestBody": body, "responses": ok(ref)},
            "delete": {"operationId": f"delete{name}", "tags": [slug], "responses": {"204": {"description": "gone"}}},
        },
    }


def build(target_bytes: int = 2_100_000) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Generated large API", "version": "1.0"},
        "servers": [{"url": "https://large.example.com/api"}],
        "paths": {},
        "components": {
            "schemas": dict(SHARED),
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                "Cursor": {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            },
            "responses": {
                "Error": {
                    "description": "error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
    }
    index = 0
    while len(json.dumps(spec)) < target_bytes:
        name, neighbour = f"Resource{index}", f"Resource{max(index - 1, 0)}"
        spec["components"]["schemas"].update(_resource_schemas(name, neighbour, index))
        spec["paths"].update(_operations(name, f"resource{index}s"))
        index += 1
    return spec


def write(path: pathlib.Path, target_bytes: int = 2_100_000) -> pathlib.Path:
    path.write_text(json.dumps(build(target_bytes), indent=1), encoding="utf-8")
    return path
