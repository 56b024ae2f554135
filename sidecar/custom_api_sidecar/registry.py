"""The runtime view of the config for one environment: everything the hot path
needs is computed here, once, at load."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ._text import shown
from .config import ApiConfig, Config, ConfigError, Endpoint, Parameter, Problem, normalize_environment
from .config._model import PATH_VARIABLE
from .errors import SidecarError, did_you_mean
from .validation import Direction, ObjectShape, SchemaCache, SchemaError, SchemaValidator, object_shape

log = logging.getLogger("custom_api_sidecar.validation")


@dataclass(frozen=True, slots=True)
class Operation:
    api: Api
    endpoint: Endpoint
    name: str
    method: str
    # The path template split at variables: literal, var, literal, var, ..., literal.
    path_parts: tuple[str, ...]
    path_variables: tuple[str, ...]
    parameters: dict[str, Parameter]  # by keyword-argument name
    body_properties: frozenset[str]
    timeout: float  # seconds
    url_template: str  # base path + path template, e.g. /v1/contacts/{contact_id}
    # Request-body binding and validation, compiled at load (see custom_api_sidecar.validation).
    content_type: str  # how body keyword arguments are encoded
    body: ObjectShape  # the body's top-level properties, through $ref/allOf
    body_required: tuple[str, ...]  # required body properties an agent must give (readOnly ones excluded)
    argument_validator: SchemaValidator | None  # parameters with constraints beyond their type, by argument name
    body_validator: SchemaValidator | None
    response_validator: SchemaValidator | None  # None when validation.response is off or no schema is declared

    @property
    def accepted_arguments(self) -> list[str]:
        return sorted(set(self.parameters) | self.body_properties)


@dataclass(frozen=True, slots=True)
class Api:
    config: ApiConfig
    name: str
    origin: str  # scheme://host[:port]
    host: str
    port: int
    base_path: str  # "" or "/v1"
    operations: dict[str, Operation]

    @property
    def base_url(self) -> str:
        return self.origin + self.base_path


class Registry:
    def __init__(self, config: Config, environment: str) -> None:
        self.environment = normalize_environment(environment)
        problems: list[Problem] = []
        # Accepted but worth an operator's attention (a schema pattern RE2 cannot run); logged at load.
        self.warnings: list[Problem] = []
        self.apis: dict[str, Api] = {}
        cache = SchemaCache()  # a definition many operations share is prepared once (validation._shared)
        for api_config in config.apis:
            url = api_config.connection.base_urls.get(self.environment)
            if url is None:
                problems.append(
                    Problem(
                        config.source,
                        api_config.name,
                        "connection.base_urls",
                        f"no base URL for the active environment {self.environment!r}",
                    )
                )
                continue
            self.apis[api_config.name] = _build_api(api_config, url, config.source, problems, self.warnings, cache)
        if problems:
            raise ConfigError(problems)
        for warning in self.warnings:
            log.warning("%s", warning)

    def validators(self) -> list[SchemaValidator]:
        return [
            validator
            for api in self.apis.values()
            for op in api.operations.values()
            for validator in (op.argument_validator, op.body_validator, op.response_validator)
            if validator is not None
        ]

    def api(self, api_name: str, operation_name: str = "") -> Api:
        api = self.apis.get(api_name)
        if api is None:
            raise SidecarError(
                ErrorCode.UNKNOWN_API,
                _unknown(f"no API {shown(api_name)}", api_name, self.apis, "configured APIs"),
                api=api_name,
                operation=operation_name,
                suggestions=did_you_mean(api_name, self.apis),
            )
        return api

    def operation(self, api_name: str, operation_name: str) -> Operation:
        api = self.api(api_name, operation_name)
        operation = api.operations.get(operation_name)
        if operation is None:
            raise SidecarError(
                ErrorCode.UNKNOWN_OPERATION,
                _unknown(
                    f"API {api_name!r} has no operation {shown(operation_name)}",
                    operation_name,
                    api.operations,
                    "operations",
                ),
                api=api_name,
                operation=operation_name,
                suggestions=did_you_mean(operation_name, api.operations),
            )
        return operation


def _unknown(message: str, name: str, known: Iterable[str], plural: str) -> str:
    suggestions = did_you_mean(name, known)
    if suggestions:
        message += f"; did you mean {' or '.join(repr(s) for s in suggestions)}?"
    return f"{message} (the {plural} are: {', '.join(sorted(known))})"


def _build_api(
    config: ApiConfig,
    base_url: str,
    source: str,
    problems: list[Problem],
    warnings: list[Problem],
    cache: SchemaCache,
) -> Api:
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    api = Api(
        config=config,
        name=config.name,
        origin=origin,
        host=parts.hostname or "",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        base_path=parts.path.rstrip("/"),
        operations={},
    )
    for endpoint in config.endpoints:
        split = PATH_VARIABLE.split(endpoint.path)
        body = object_shape(endpoint.request_body)
        timeout_ms = endpoint.timeout_ms or config.connection.timeout_ms
        arguments, request_body, response = _validators(config, endpoint, source, problems, warnings, cache)
        api.operations[endpoint.name] = Operation(
            api=api,
            endpoint=endpoint,
            name=endpoint.name,
            method=endpoint.method,
            path_parts=tuple(split),
            path_variables=tuple(split[1::2]),
            parameters={p.arg_name: p for p in endpoint.parameters},
            body_properties=frozenset(body.properties),
            timeout=timeout_ms / 1000,
            url_template=api.base_path + endpoint.path,
            content_type=endpoint.request_content_type,
            body=body,
            body_required=tuple(name for name in body.required if name not in body.read_only),
            argument_validator=arguments,
            body_validator=request_body,
            response_validator=response,
        )
    return api


def _validators(
    config: ApiConfig,
    endpoint: Endpoint,
    source: str,
    problems: list[Problem],
    warnings: list[Problem],
    cache: SchemaCache,
) -> tuple[SchemaValidator | None, SchemaValidator | None, SchemaValidator | None]:
    """The operation's argument, request-body and response validators; a schema that
    cannot be compiled is a config problem naming its field, a part of one that is not
    enforced (a pattern RE2 cannot run) a warning naming it."""

    def compile_schema(field: str, build: Callable[[], Any], direction: Direction, root: str) -> Any:
        where = f"endpoints.{endpoint.name}.{field}"
        try:
            schema = build()
            validator = None if schema is None else SchemaValidator(schema, direction, root, cache)
        except SchemaError as exc:
            problems.append(Problem(source, config.name, where, str(exc)))
            return None
        if validator is not None:
            warnings.extend(Problem(source, config.name, where, str(item)) for item in validator.unenforced)
        return validator

    check_response = config.validation.response != "off"
    return (
        compile_schema("parameters", lambda: _arguments_schema(endpoint.parameters), "request", ""),
        compile_schema("request_body", lambda: endpoint.request_body, "request", "body"),
        compile_schema(
            "response_schema", lambda: endpoint.response_schema if check_response else None, "response", "response"
        ),
    )


# Keywords that say nothing the bind stage's type check does not already enforce.
_PLAIN_KEYWORDS = frozenset({"type", "description", "title", "example", "examples", "default", "deprecated"})


def _arguments_schema(parameters: tuple[Parameter, ...]) -> dict[str, Any] | None:
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
