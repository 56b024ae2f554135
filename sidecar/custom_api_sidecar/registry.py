"""The runtime view of the config for one environment: everything the hot path
needs is computed here, once, at load."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ._text import shown
from .config import ApiConfig, Config, ConfigError, Endpoint, Parameter, Problem, normalize_environment
from .config._model import PATH_VARIABLE
from .errors import SidecarError, did_you_mean
from .operation_validators import operation_validators
from .validation import ObjectShape, SchemaCache, SchemaValidator, object_shape

log = logging.getLogger("custom_api_sidecar.validation")


@dataclass(frozen=True, slots=True)
class ContextBinding:
    """One argument bound to the conversation's trusted context (``from_context:``)."""

    argument: str  # the keyword-argument name (a parameter's or a body property's)
    key: str  # the context key its value comes from
    location: str  # path | query | header | body
    wire_name: str  # as sent: the parameter's name (a header may be X-Caller), or the body property
    type: str  # string | integer | number | boolean: what the context string is converted to


@dataclass(frozen=True, slots=True)
class Operation:
    api: Api
    endpoint: Endpoint
    name: str
    method: str
    # The path template split at variables: literal, var, literal, var, ..., literal.
    path_parts: tuple[str, ...]
    path_variables: tuple[str, ...]  # the caller's, in template order: bound ones are not among them
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
    # Arguments whose values come from the call's trusted context, never from the caller (by argument).
    context_bindings: dict[str, ContextBinding]

    @property
    def accepted_arguments(self) -> list[str]:
        """What a caller may pass: bound arguments are not among them."""
        return sorted((set(self.parameters) | self.body_properties) - self.context_bindings.keys())


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
        timeout_ms = endpoint.timeout_ms or config.connection.timeout_ms
        arguments, request_body, response = _validators(config, endpoint, source, problems, warnings, cache)
        # a body schema that could not be compiled is a problem already: its shape is not looked at
        body = object_shape(endpoint.request_body) if request_body is not None else ObjectShape()
        bindings = _context_bindings(endpoint, body, source, config.name, problems)
        bound_path = {b.wire_name for b in bindings.values() if b.location == "path"}
        api.operations[endpoint.name] = Operation(
            api=api,
            endpoint=endpoint,
            name=endpoint.name,
            method=endpoint.method,
            path_parts=tuple(split),
            path_variables=tuple(v for v in split[1::2] if v not in bound_path),
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
            context_bindings=bindings,
        )
    return api


def _context_bindings(
    endpoint: Endpoint, body: ObjectShape, source: str, api: str, problems: list[Problem]
) -> dict[str, ContextBinding]:
    """The endpoint's ``from_context`` bindings, each checked against what the operation takes: a
    parameter, or a top-level body property (through ``$ref``/``allOf``, which the loader cannot see)."""
    parameters = {p.arg_name: p for p in endpoint.parameters}
    out: dict[str, ContextBinding] = {}
    for argument, key in endpoint.from_context:
        param = parameters.get(argument)
        if param is not None:
            out[argument] = ContextBinding(argument, key, param.location, param.name, param.type)
            continue
        schema = body.properties.get(argument)
        kind = schema.get("type", "string") if isinstance(schema, dict) else None
        if kind in ("string", "integer", "number", "boolean") and argument not in body.read_only:
            out[argument] = ContextBinding(argument, key, "body", argument, str(kind))
            continue
        why = (
            f"{argument!r} is neither a parameter nor a top-level body property of this operation"
            if schema is None
            else f"body property {argument!r} is not a string, integer, number or boolean (or is readOnly)"
        )
        problems.append(Problem(source, api, f"endpoints.{endpoint.name}.from_context.{shown(argument)}", why))
    return out


def _validators(
    config: ApiConfig,
    endpoint: Endpoint,
    source: str,
    problems: list[Problem],
    warnings: list[Problem],
    cache: SchemaCache,
) -> tuple[SchemaValidator | None, SchemaValidator | None, SchemaValidator | None]:
    """The operation's argument, request-body and response validators (built once per endpoint: the
    loader has built an imported operation's already); a schema that cannot be compiled is a config
    problem naming its field, a part of one that is not enforced (a pattern RE2 cannot run) a warning."""
    built = operation_validators(endpoint, config.validation.response != "off", cache)
    for field, message in built.problems:
        problems.append(Problem(source, config.name, f"endpoints.{endpoint.name}.{field}", message))
    for field, message in built.unenforced:
        warnings.append(Problem(source, config.name, f"endpoints.{endpoint.name}.{field}", message))
    return built.arguments, built.request_body, built.response
