"""ListApis / DescribeApi answers, built once at load. Never base URLs or secrets."""

from __future__ import annotations

import json
from typing import Any

from client._proto import sidecar_pb2 as pb

from .registry import Api, Operation, Registry


def input_schema(op: Operation) -> dict[str, Any]:
    """JSON Schema of the keyword arguments: parameters plus request-body properties."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg, param in op.parameters.items():
        schema = dict(param.schema or {"type": param.type})
        if param.description:
            schema.setdefault("description", param.description)
        properties[arg] = schema
        if param.required:
            required.append(arg)
    body = op.endpoint.request_body or {}
    for name, schema in (body.get("properties") or {}).items():
        properties[name] = schema
    required.extend(r for r in body.get("required") or () if r in properties and r not in required)
    schema_out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema_out["required"] = required
    return schema_out


def _operation(op: Operation) -> pb.OperationDescription:
    endpoint = op.endpoint
    return pb.OperationDescription(
        name=op.name,
        description=endpoint.description,
        method=op.method,
        path=endpoint.path,
        parameters=[
            pb.ParameterDescription(
                name=arg, location=p.location, type=p.type, required=p.required, description=p.description
            )
            for arg, p in op.parameters.items()
        ],
        input_schema_json=json.dumps(input_schema(op), sort_keys=True),
        output_schema_json=json.dumps(endpoint.response_schema, sort_keys=True) if endpoint.response_schema else "",
        request_body_schema_json=json.dumps(endpoint.request_body, sort_keys=True) if endpoint.request_body else "",
    )


def _api(api: Api, environment: str) -> pb.ApiDescription:
    return pb.ApiDescription(
        name=api.name,
        description=api.config.description,
        environment=environment,
        operations=[_operation(op) for op in api.operations.values()],
    )


class Catalog:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.list_response = pb.ListApisResponse(
            environment=registry.environment,
            apis=[
                pb.ApiSummary(name=api.name, description=api.config.description, operations=list(api.operations))
                for api in registry.apis.values()
            ],
        )
        self._descriptions = {
            name: pb.DescribeApiResponse(api=_api(api, registry.environment)) for name, api in registry.apis.items()
        }

    def describe(self, api_name: str) -> pb.DescribeApiResponse:
        self._registry.api(api_name)  # UNKNOWN_API with suggestions
        return self._descriptions[api_name]
