"""ListApis / DescribeApi answers, built once at load. Never base URLs or secrets."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.tools import tool_definitions as client_tool_definitions

from .config import Parameter
from .config._model import ResultSettings
from .registry import Api, Operation, Registry


def input_schema(op: Operation) -> dict[str, Any]:
    """JSON Schema of the keyword arguments: parameters plus request-body properties.

    An object body contributes its properties (through ``$ref``/``allOf``), minus
    ``readOnly`` ones, which a request does not send; any other body (an array, a
    string) is the ``json`` argument, as in requests. Referenced definitions move
    to the top-level ``$defs``, where the ``#/$defs/...`` references point. Arguments bound to
    the conversation context (``from_context``) are left out: the caller never gives them, and an
    LLM reading this schema must not be invited to.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    bound = op.context_bindings
    for arg, param in op.parameters.items():
        if arg in bound:
            continue
        schema = dict(param.schema or {"type": param.type})
        defs.update(schema.pop("$defs", None) or {})
        if param.description:
            schema.setdefault("description", param.description)
        properties[arg] = schema
        if param.required:
            required.append(arg)
    body = op.endpoint.request_body
    if body is not None:
        defs.update(body.get("$defs") or {})
        if op.body.properties:
            for name, schema in op.body.properties.items():
                if name not in op.body.read_only and name not in properties and name not in bound:
                    properties[name] = schema
            required.extend(r for r in op.body_required if r in properties and r not in required)
        else:
            properties["json"] = {k: v for k, v in body.items() if k != "$defs"}
            properties["json"].setdefault("description", "The request body.")
            if op.endpoint.request_body_required:
                required.append("json")
    schema_out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema_out["required"] = required
    if defs:
        schema_out["$defs"] = defs
    return schema_out


def _fill_operation(out: pb.OperationDescription, op: Operation) -> None:
    endpoint = op.endpoint
    out.name = op.name
    out.description = endpoint.description
    out.method = op.method
    out.path = endpoint.path
    for arg, p in op.parameters.items():
        out.parameters.add(
            name=arg,
            location=p.location,
            type=p.type,
            required=p.required,
            description=p.description,
            from_context=p.from_context,
        )
    for arg, binding in op.context_bindings.items():
        out.from_context[arg] = binding.key
    out.input_schema_json = json.dumps(input_schema(op), sort_keys=True)
    out.output_schema_json = json.dumps(endpoint.response_schema, sort_keys=True) if endpoint.response_schema else ""
    out.request_body_schema_json = json.dumps(endpoint.request_body, sort_keys=True) if endpoint.request_body else ""
    out.background = endpoint.background
    if endpoint.cache is not None:
        out.cache.ttl_s, out.cache.scope = endpoint.cache.ttl_s, endpoint.cache.scope
    if endpoint.result is not None:
        out.result.select = endpoint.result.select or ""
        out.result.max_chars = endpoint.result.max_chars


def _describe(api: Api, environment: str) -> pb.DescribeApiResponse:
    """Built in place: a 1,200-operation API's answer is about 38 MB, and building each operation
    as a message of its own, then the API, then the answer, held three copies of it at once."""
    informational = api.config.informational.as_dict()
    response = pb.DescribeApiResponse()
    out = response.api
    out.name = api.name
    out.description = api.config.description
    out.environment = environment
    for op in api.operations.values():
        _fill_operation(out.operations.add(), op)
    out.display_name = api.config.display_name
    out.informational_json = json.dumps(informational, sort_keys=True) if informational else ""
    return response


class Catalog:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.list_response = pb.ListApisResponse(
            environment=registry.environment,
            apis=[
                pb.ApiSummary(
                    name=api.name,
                    description=api.config.description,
                    operations=list(api.operations),
                    display_name=api.config.display_name,
                )
                for api in registry.apis.values()
            ],
        )
        self._descriptions = {name: _describe(api, registry.environment) for name, api in registry.apis.items()}

    def describe(self, api_name: str) -> pb.DescribeApiResponse:
        self._registry.api(api_name)  # UNKNOWN_API with suggestions
        return self._descriptions[api_name]


def api_dicts(registry: Registry, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """What ``api_dict(catalog.describe(name).api)`` gives for each API (all by default), made from
    the registry's own objects: the schemas are the config's, not copies parsed back from the
    answer's JSON. A 1,200-operation spec's answer is 38 MB of JSON and parsed back took about
    ten times that; these dicts take next to nothing (the tool export and the MCP tool list)."""
    return [
        _api_dict(registry, registry.apis[name], registry.apis[name].operations.values())
        for name in (registry.apis if names is None else names)
    ]


def _api_dict(registry: Registry, api: Api, operations: Iterable[Operation]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": api.name,
        "description": api.config.description,
        "environment": registry.environment,
        "operations": [_operation_dict(op) for op in operations],
    }
    if api.config.display_name:
        entry["display_name"] = api.config.display_name
    informational = api.config.informational.as_dict()
    if informational:
        entry["informational"] = informational
    return entry


def _operation_dict(op: Operation) -> dict[str, Any]:
    """As ``custom_api_client.discovery.operation_dict`` reads ``_fill_operation``'s message."""
    endpoint = op.endpoint
    out = {
        "name": op.name,
        "description": endpoint.description,
        "method": op.method,
        "path": endpoint.path,
        "parameters": [_parameter_dict(arg, p) for arg, p in op.parameters.items()],
        "input_schema": input_schema(op),
        "request_body_schema": endpoint.request_body or None,
        "output_schema": endpoint.response_schema or None,
        "background": endpoint.background,
        "cache": {"ttl_s": endpoint.cache.ttl_s, "scope": endpoint.cache.scope} if endpoint.cache else None,
    } | _result_dict(endpoint.result)
    if op.context_bindings:  # as the client's discovery reads it: sorted, and only when there are any
        out["from_context"] = {arg: b.key for arg, b in sorted(op.context_bindings.items())}
    return out


def _parameter_dict(arg: str, p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": arg,
        "in": p.location,
        "type": p.type,
        "required": p.required,
        "description": p.description,
    }
    if p.from_context:
        out["from_context"] = p.from_context
    return out


def _result_dict(result: ResultSettings | None) -> dict[str, Any]:
    """``{"result": {"select": ..., "max_chars": ...}}`` for an operation with ``result:``, else nothing."""
    if result is None:
        return {}
    return {"result": {"select": result.select, "max_chars": result.max_chars}}


def tool_definitions(registry: Registry, format: str, apis: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """What ``conv.api.tools(format, apis)`` returns, computed without a running sidecar.

    Raises LookupError naming the configured APIs when one of ``apis`` is not one of them."""
    names = list(registry.apis) if apis is None else list(apis)
    for name in names:
        if name not in registry.apis:
            raise LookupError(f"no API {name!r} (the configured APIs are: {', '.join(registry.apis)})")
    return client_tool_definitions(api_dicts(registry, names), format)


def operation_tool(registry: Registry, api_name: str, operation_name: str, tool_name: str) -> dict[str, Any]:
    """One operation's MCP tool definition, exactly as ``tool_definitions(registry, "mcp")`` gives
    it, without building the others (a search result's tool: an API may have 1,200 operations).
    ``tool_name``: the operation's name in the whole catalogue's export (unique over all of it)."""
    api = registry.apis[api_name]
    (tool,) = client_tool_definitions([_api_dict(registry, api, [api.operations[operation_name]])], "mcp")
    tool["name"] = tool_name
    return tool
