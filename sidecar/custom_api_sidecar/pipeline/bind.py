"""Stage: bind call arguments to the operation, as ``requests`` would read them.

Positional arguments fill path variables in template order; a keyword names a
path variable, a declared query/header parameter or a request-body property;
``params``/``json``/``data``/``headers``/``timeout`` keep their requests meaning.
Anything else is INVALID_ARGUMENT naming the accepted arguments.

Arguments are validated against the operation's schemas (compiled at load)
before anything is sent, then encoded: parameters per their OpenAPI
``style``/``explode``, body keyword arguments per ``request_content_type``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from custom_api_client.proto.sidecar_pb2 import ErrorCode
from custom_api_client.values import from_value

from .._text import shown
from ..bounds import HEADERS, QUERY, pairs_problem
from ..config._model import HEADER_NAME
from ..errors import SidecarError, did_you_mean
from ..registry import Operation
from ..validation import SchemaValidator
from ._call import Call, UpstreamResponse
from ._compose import Handler
from ._encode import form_body, header_value, multipart_body, path_segment, query_pairs

# Visible ASCII, space and tab only: a control character could split the request (aiohttp and
# httpx refuse them, as an internal error), and HTTP clients send header values as ASCII.
_BAD_HEADER_VALUE = re.compile(r"[^\t\x20-\x7e]")
_FIELD_HEAD = re.compile(r"^[^.\[]+")
# Headers the caller may not set: they would change where or how the request
# travels, which is the sidecar's decision alone.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    }
)
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str, int, float),  # numbers are accepted and formatted for string slots
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_BODY_KINDS = {
    "application/json": "JSON",
    "application/x-www-form-urlencoded": "form",
    "multipart/form-data": "multipart",
}


class BindArguments:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        request = call.request
        arguments, body_fields = _collect(call, op)
        if op.argument_validator is not None:
            _validate(op, op.argument_validator, arguments)
        _encode_parameters(call, op, arguments)
        call.query.extend((kv.key, kv.value) for kv in request.params)
        for kv in request.headers:
            _check_header(op, kv.key, kv.value)
            call.headers.append((kv.key, kv.value))
        if arguments:  # declared parameters joined the caller's params= and headers=, checked at admission
            _check_sizes(op, call)
        _bind_body(call, op, body_fields)
        limit = op.api.config.security.max_request_bytes
        if call.body is not None and len(call.body) > limit:
            raise _error(
                op, ErrorCode.REQUEST_TOO_LARGE, f"request body is {len(call.body)} bytes; the limit is {limit}"
            )
        call.timeout = _effective_timeout(op, request.timeout_seconds, call.time_remaining)
        call.deadline = time.monotonic() + call.timeout
        call.callers_deadline = call.timeout < op.timeout
        return await call_next(call)


def _check_sizes(op: Operation, call: Call) -> None:
    """The caller bounds on header and query sizes (custom_api_sidecar.bounds), over what was encoded."""
    for bounds, pairs in ((QUERY, call.query), (HEADERS, call.headers)):
        problem = pairs_problem(pairs, bounds)
        if problem:
            raise _invalid(op, problem, field=bounds.field)


def _collect(call: Call, op: Operation) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameter values by argument name, and the request-body properties given."""
    positional = call.request.positional
    if len(positional) > len(op.path_variables):
        names = ", ".join(op.path_variables) or "none"
        raise _invalid(
            op,
            f"takes {len(op.path_variables)} positional argument(s) (path variables: {names}) "
            f"but {len(positional)} were given",
        )
    arguments: dict[str, Any] = {}
    for name, value in zip(op.path_variables, positional, strict=False):
        arguments[name] = _typed(op, name, from_value(value))
    body_fields: dict[str, Any] = {}
    for entry in call.request.keywords:
        key = entry.key
        value = from_value(entry.value)
        param = op.parameters.get(key)
        if param is None:
            if key in op.body_properties:
                body_fields[key] = value
                continue
            raise _unexpected(op, key)
        if value is None and param.location != "path":
            continue  # None means "not given", as in requests' params
        if param.location == "path" and key in arguments:
            raise _invalid(op, f"got multiple values for path variable {param.name!r}", field=key)
        arguments[key] = _typed(op, key, value)
    for key, value in call.bound_arguments.items():  # from the trusted context (bound_context stage)
        if key in op.parameters:
            arguments[key] = _typed(op, key, value)
        else:
            body_fields[key] = value
    missing = [v for v in op.path_variables if v not in arguments]
    missing += [p.arg_name for p in op.parameters.values() if p.required and p.arg_name not in arguments]
    if missing:
        raise _missing(op, dict.fromkeys(missing))
    return arguments, body_fields


def _typed(op: Operation, key: str, value: Any) -> Any:
    """The value checked against the parameter's declared type; numbers for strings become text."""
    param = op.parameters[key]
    if value is None:
        raise _invalid(op, f"path variable {param.name!r} must not be None", field=key)
    expected = _PYTHON_TYPES[param.type]
    if (isinstance(value, bool) and param.type != "boolean") or not isinstance(value, expected):
        raise _invalid(op, f"argument {key!r} must be {param.type}, not {type(value).__name__}", field=key)
    if param.type == "string" and not isinstance(value, str):
        return str(value)
    return value


def _encode_parameters(call: Call, op: Operation, arguments: dict[str, Any]) -> None:
    for key, value in arguments.items():
        param = op.parameters[key]

        def text(item: Any, key: str = key) -> str:
            return _scalar_text(op, key, item)

        if param.location == "path":
            if not isinstance(value, (list, dict)) and text(value) in ("", ".", ".."):
                raise _invalid(op, f"path variable {param.name!r} must not be {text(value)!r}", field=key)
            segment = path_segment(param.name, value, param.style, param.explode, text)
            # An empty or dot segment would change which resource the path names.
            if segment in ("", ".", ".."):
                raise _invalid(op, f"path variable {param.name!r} must not be {segment!r}", field=key)
            call.path_values[param.name] = segment
        elif param.location == "query":
            call.query.extend(query_pairs(param.name, value, param.style, param.explode, text))
        else:
            line = header_value(value, param.explode, text)
            _check_header(op, param.name, line)
            call.headers.append((param.name, line))


def _bind_body(call: Call, op: Operation, body_fields: dict[str, Any]) -> None:
    request = call.request
    given = [name for name in ("json", "raw_body") if request.HasField(name)] + (["data"] if request.form else [])
    if len(given) > 1:
        raise _invalid(op, "pass only one of json= or data=", field="json")
    if body_fields:
        if given and given != ["json"]:
            names = ", ".join(sorted(body_fields))
            kind = _BODY_KINDS[op.content_type]
            raise _invalid(op, f"body arguments ({names}) make a {kind} body and cannot be combined with data=")
        body = _merged(op, request, body_fields)
        missing = [name for name in op.body_required if name not in body]
        if missing:
            raise _missing(op, dict.fromkeys(missing))
        _encode_body(call, op, body)
    elif request.HasField("json"):
        if op.body_validator is not None:
            _validate(op, op.body_validator, _parse_json(op, request.json))
        call.body = request.json
        call.content_type = "application/json"
    elif request.form:
        if op.content_type == "multipart/form-data":  # data= follows the declared encoding
            call.body, call.content_type = multipart_body(_grouped(request.form), lambda v: str(v))
        else:
            call.body = urlencode([(kv.key, kv.value) for kv in request.form]).encode()
            call.content_type = "application/x-www-form-urlencoded"
    elif request.HasField("raw_body"):
        call.body = request.raw_body
        call.content_type = request.content_type or None
    elif _empty_object_body(op):
        # A required body whose properties are all optional: no argument means the empty object (its
        # input schema asks for none). Not as a form: an empty form is no body at all.
        _encode_body(call, op, {})
    elif op.endpoint.request_body_required:
        accepted = ", ".join(sorted(op.body_properties)) or "none"
        raise _invalid(
            op,
            f"missing the request body: pass its properties as keyword arguments (accepted: {accepted}) or json=",
            field="json",
            suggestions=sorted(op.body_properties),
        )
    if call.content_type and not any(k.lower() == "content-type" for k, _ in call.headers):
        _check_header(op, "Content-Type", call.content_type)
        call.headers.append(("Content-Type", call.content_type))


def _empty_object_body(op: Operation) -> bool:
    return (
        op.endpoint.request_body_required
        and bool(op.body_properties)
        and not op.body_required
        and op.content_type != "application/x-www-form-urlencoded"
    )


def _merged(op: Operation, request: Any, fields: dict[str, Any]) -> dict[str, Any]:
    body: Any = {}
    if request.HasField("json"):
        body = _parse_json(op, request.json)
        if not isinstance(body, dict):
            raise _invalid(op, "json= must be an object to combine it with body arguments", field="json")
    for key, value in fields.items():
        if key in body and body[key] != value:
            raise _invalid(op, f"argument {key!r} conflicts with json[{key!r}]", field=key)
        body[key] = value
    return body


def _encode_body(call: Call, op: Operation, body: dict[str, Any]) -> None:
    def text(item: Any) -> str:
        return _scalar_text(op, "body", item)

    if op.content_type == "application/json":
        if op.body_validator is not None:
            _validate(op, op.body_validator, body)
        try:
            call.body = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:  # bytes, NaN: a JSON body cannot carry them
            raise _invalid(op, f"the body is not JSON-serializable: {exc}", field="json") from None
        call.content_type = "application/json"
    elif op.content_type == "application/x-www-form-urlencoded":
        if op.body_validator is not None:
            _validate(op, op.body_validator, body)
        call.body = form_body(body, text)
        call.content_type = "application/x-www-form-urlencoded"
    else:
        if op.body_validator is not None:
            _validate(op, op.body_validator, _files_as_text(body))
        call.body, call.content_type = multipart_body(body, text)


def _files_as_text(body: dict[str, Any]) -> dict[str, Any]:
    """Bytes (file parts) stand in as strings for validation: JSON Schema has no bytes,
    and OpenAPI describes a file as ``type: string, format: binary``."""

    def stand_in(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return f"<{len(value)} bytes>"
        if isinstance(value, list):
            return [stand_in(v) for v in value]
        return value

    return {key: stand_in(value) for key, value in body.items()}


def _grouped(form: Any) -> dict[str, Any]:
    grouped: dict[str, list[str]] = {}
    for kv in form:
        grouped.setdefault(kv.key, []).append(kv.value)
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def _parse_json(op: Operation, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _invalid(op, f"json= is not valid JSON: {exc}", field="json") from None


def _validate(op: Operation, validator: SchemaValidator, instance: Any) -> None:
    violation = validator.violation(instance)
    if violation is not None:
        head = _FIELD_HEAD.match(violation.path)
        field = head.group(0) if head else violation.path
        name = _FIELD_HEAD.match(violation.path.removeprefix("body."))
        bound = op.context_bindings.get(name.group(0)) if name else None
        if bound is not None:  # the value came from the conversation context: not the caller's to read
            why = f"{violation.path}: {violation.summary} (its value comes from context key {bound.key!r})"
            raise _invalid(op, why, field=field)
        raise _invalid(op, str(violation), field=field)


def _scalar_text(op: Operation, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise _invalid(op, f"argument {name!r} is not UTF-8 text", field=name) from None
    raise _invalid(op, f"argument {name!r} must be a string, number or boolean, not {type(value).__name__}", field=name)


def _check_header(op: Operation, name: str, value: str) -> None:
    if not HEADER_NAME.match(name):
        raise _invalid(op, f"header name {name!r} is not a valid HTTP token", field="headers")
    if _BAD_HEADER_VALUE.search(value):
        raise _invalid(
            op, f"header {name!r} holds a control or non-ASCII character (CR, LF, NUL, é, ...)", field="headers"
        )
    if name.lower() in FORBIDDEN_HEADERS:
        raise _invalid(op, f"header {name!r} is set by the sidecar and may not be passed", field="headers")


def _effective_timeout(op: Operation, requested: float, time_remaining: float | None) -> float:
    timeout = op.timeout
    if requested > 0:
        timeout = min(timeout, requested)
    if time_remaining is not None:
        timeout = min(timeout, max(time_remaining, 0.001))
    return timeout


def _unexpected(op: Operation, key: str) -> SidecarError:
    accepted = op.accepted_arguments
    hint = did_you_mean(key, accepted)
    return _invalid(
        op,
        f"unexpected argument {shown(key)}"
        + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else "")
        + f" (accepted: {', '.join(accepted) or 'none'}; plus params, json, data, headers, timeout)",
        field=key,
        suggestions=hint or accepted,
    )


def _missing(op: Operation, missing: dict[str, None]) -> SidecarError:
    names = list(missing)
    return _invalid(
        op,
        f"missing required argument(s): {', '.join(names)} (accepted: {', '.join(op.accepted_arguments)})",
        field=names[0],
    )


def _invalid(op: Operation, message: str, field: str = "", suggestions: Any = ()) -> SidecarError:
    return _error(op, ErrorCode.INVALID_ARGUMENT, message, field=field, suggestions=suggestions)


def _error(op: Operation, code: int, message: str, field: str = "", suggestions: Any = ()) -> SidecarError:
    return SidecarError(
        code,
        f"{op.api.name}.{op.name}: {message}",
        api=op.api.name,
        operation=op.name,
        field=field,
        suggestions=suggestions,
    )
