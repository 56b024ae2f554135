"""An operation's validators (its arguments, request body and response), built from its endpoint.

Building them is the bulk of loading a large spec (converting and checking every schema), and two
places need them: the loader, which skips an imported operation whose schemas cannot be compiled,
and the registry, which serves with them. So they are built once per endpoint object and kept
while that endpoint lives: the registry gets what the loader already built.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import Endpoint, Parameter
from .validation import Direction, SchemaCache, SchemaError, SchemaValidator


@dataclass(frozen=True, slots=True)
class OperationValidators:
    arguments: SchemaValidator | None  # parameters with constraints beyond their type, by argument name
    request_body: SchemaValidator | None
    response: SchemaValidator | None  # None when response validation is off or no schema is declared
    problems: tuple[tuple[str, str], ...]  # (field, why): a schema that cannot be compiled
    unenforced: tuple[tuple[str, str], ...]  # (field, what): a part not enforced (a pattern RE2 cannot run)


# id(endpoint) -> (the endpoint, weakly; check_response; what was built). The weak reference makes
# sure an id reused by a later object is never taken for the endpoint it was built for, and drops the
# entry when the endpoint goes. No lock: each step is one dict operation (atomic), and the callback
# may run inside any allocation (an old registry is freed by the cycle collector), so it must not
# wait for one. An id cannot be reused before its callback has run.
_built: dict[int, tuple[weakref.ref[Endpoint], bool, OperationValidators]] = {}


def operation_validators(
    endpoint: Endpoint, check_response: bool, cache: SchemaCache | None = None
) -> OperationValidators:
    """The validators of ``endpoint`` (``check_response``: build the response validator too).
    Validators built with one ``cache`` share the definitions they share (``validation._shared``)."""
    key = id(endpoint)
    found = _built.get(key)
    if found is not None and found[0]() is endpoint and found[1] == check_response:
        return found[2]
    built = _build(endpoint, check_response, cache)

    def forget(ref: weakref.ref[Endpoint]) -> None:
        entry = _built.get(key)
        if entry is not None and entry[0] is ref:
            _built.pop(key, None)

    _built[key] = (weakref.ref(endpoint, forget), check_response, built)
    return built


def _build(endpoint: Endpoint, check_response: bool, cache: SchemaCache | None) -> OperationValidators:
    problems: list[tuple[str, str]] = []
    unenforced: list[tuple[str, str]] = []

    def compile_schema(field: str, build: Callable[[], Any], direction: Direction, root: str) -> SchemaValidator | None:
        try:
            schema = build()
            validator = None if schema is None else SchemaValidator(schema, direction, root, cache)
        except SchemaError as exc:
            problems.append((field, str(exc)))
            return None
        if validator is not None:
            unenforced.extend((field, str(item)) for item in validator.unenforced)
        return validator

    return OperationValidators(
        arguments=compile_schema("parameters", lambda: arguments_schema(endpoint.parameters), "request", ""),
        request_body=compile_schema("request_body", lambda: endpoint.request_body, "request", "body"),
        response=compile_schema(
            "response_schema", lambda: endpoint.response_schema if check_response else None, "response", "response"
        ),
        problems=tuple(problems),
        unenforced=tuple(unenforced),
    )


# Keywords that say nothing the bind stage's type check does not already enforce.
_PLAIN_KEYWORDS = frozenset({"type", "description", "title", "example", "examples", "default", "deprecated"})


def arguments_schema(parameters: tuple[Parameter, ...]) -> dict[str, Any] | None:
    """One object schema over every parameter with real constraints (enum, bounds, format, items...),
    keyed by argument name, so a call costs one validation however many parameters it has."""
    properties: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for param in parameters:
        schema = param.schema or {}
        if set(schema) <= _PLAIN_KEYWORDS and schema.get("type", param.type) == param.type:
            continue
        for name, definition in (schema.get("$defs") or {}).items():
            if defs.setdefault(name, definition) != definition:
                raise SchemaError(f"two parameters define $defs.{name} differently")
        properties[param.arg_name] = {k: v for k, v in schema.items() if k != "$defs"}
    if not properties:
        return None
    schema_out: dict[str, Any] = {"type": "object", "properties": properties}
    if defs:
        schema_out["$defs"] = defs
    return schema_out
