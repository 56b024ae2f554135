"""``from_context:``: arguments bound to the conversation's trusted context, read from the config.

Three spellings, one binding (``Endpoint.from_context``, argument name -> context key):

- a parameter (path, query or header) says ``from_context: caller_number``;
- a top-level property of an inline ``request_body`` schema says ``from_context: caller_number``
  (taken out of the schema: it is the sidecar's, not JSON Schema's);
- an endpoint says ``from_context: {argument: key}``, naming a parameter or a body property by
  its argument name: the one spelling that needs no edit of the schema, which is how an imported
  OpenAPI operation is bound (an ``endpoints:`` entry that amends it: ``_amend``).

A bound value is a string; a parameter or property typed integer, number or boolean gets the
string converted (pipeline/bound_context.py), an array or object cannot be bound.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from custom_api_client._context import CONTEXT_KEY

from .._text import shown
from ..config._model import Parameter
from ..config._problems import Problems

BINDABLE_TYPES = ("string", "integer", "number", "boolean")
_KEY_RULE = "must be a context key: 1-64 characters of lowercase letters, digits and _, starting with a letter"


def context_key(p: Problems, field: str, value: Any) -> str:
    """A valid context key, or "" after a problem."""
    if not isinstance(value, str) or not CONTEXT_KEY.match(value):
        p.add(field, f"{shown(value)} {_KEY_RULE}")
        return ""
    return value


def parameter_binding(p: Problems, field: str, item: dict[str, Any], ptype: str) -> str:
    """A parameter entry's ``from_context`` key ("" when unbound or after a problem)."""
    if "from_context" not in item:
        return ""
    key = context_key(p, f"{field}.from_context", item["from_context"])
    if key and ptype not in BINDABLE_TYPES:
        p.add(f"{field}.from_context", f"a {ptype} parameter cannot be bound (a context value is a string)")
        return ""
    return key


def endpoint_bindings(
    p: Problems, where: str, raw: dict[str, Any], parameters: tuple[Parameter, ...]
) -> tuple[tuple[tuple[str, str], ...], dict[str, Any] | None]:
    """The endpoint's bindings (argument -> key, every spelling) and its request body with the
    properties' ``from_context`` taken out (the same dict when none had one)."""
    bound: dict[str, str] = {p_.arg_name: p_.from_context for p_ in parameters if p_.from_context}
    body = raw.get("request_body") if isinstance(raw.get("request_body"), dict) else None
    properties = body.get("properties") if body is not None else None
    if isinstance(properties, dict) and any(isinstance(s, dict) and "from_context" in s for s in properties.values()):
        stripped = {}
        for name, schema in properties.items():
            if isinstance(schema, dict) and "from_context" in schema:
                field = f"{where}.request_body.properties.{name}.from_context"
                key = context_key(p, field, schema["from_context"])
                if key and schema.get("type", "string") not in BINDABLE_TYPES:
                    kind = shown(schema.get("type"))
                    p.add(field, f"a {kind} property cannot be bound (a context value is a string)")
                elif key:
                    bound[name] = key
                schema = {k: v for k, v in schema.items() if k != "from_context"}
            stripped[name] = schema
        body = {**body, "properties": stripped}  # type: ignore[dict-item]
    mapping = raw.get("from_context")
    if mapping is not None:
        if not isinstance(mapping, dict):
            p.add(f"{where}.from_context", "must be a mapping of argument name to context key")
        else:
            by_arg = {param.arg_name: param for param in parameters}
            for argument, value in mapping.items():
                field = f"{where}.from_context.{argument}"
                key = context_key(p, field, value)
                param = by_arg.get(argument)
                if param is not None and param.type not in BINDABLE_TYPES:
                    p.add(field, f"a {param.type} parameter cannot be bound (a context value is a string)")
                elif key and bound.get(argument, key) != key:
                    p.add(field, f"is bound to {shown(bound[argument])} already")
                elif key:
                    bound[str(argument)] = key  # a body property named here is checked by the registry
    return tuple(bound.items()), body


def bind_parameters(parameters: tuple[Parameter, ...], bound: tuple[tuple[str, str], ...]) -> tuple[Parameter, ...]:
    """The parameters with ``from_context`` set for those bound at the endpoint level too."""
    keys = dict(bound)
    return tuple(
        param
        if keys.get(param.arg_name, "") == param.from_context
        else dataclasses.replace(param, from_context=keys[param.arg_name])
        for param in parameters
    )
