"""Stage: bind call arguments to the operation, as ``requests`` would read them.

Positional arguments fill path variables in template order; a keyword names a
path variable, a declared query/header parameter or a request-body property;
``params``/``json``/``data``/``headers``/``timeout`` keep their requests meaning.
Anything else is INVALID_ARGUMENT naming the accepted arguments.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from client._proto.sidecar_pb2 import ErrorCode
from client._values import from_value

from ..config._model import HEADER_NAME
from ..errors import SidecarError, did_you_mean
from ..registry import Operation
from ._call import Call, UpstreamResponse
from ._compose import Handler

_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
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


class BindArguments:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        request = call.request
        body_fields = _bind_keywords(call, op)
        call.query.extend((kv.key, kv.value) for kv in request.params)
        for kv in request.headers:
            _check_header(op, kv.key, kv.value)
            call.headers.append((kv.key, kv.value))
        _bind_body(call, op, body_fields)
        limit = op.api.config.security.max_request_bytes
        if call.body is not None and len(call.body) > limit:
            raise _error(
                op, ErrorCode.REQUEST_TOO_LARGE, f"request body is {len(call.body)} bytes; the limit is {limit}"
            )
        call.timeout = _effective_timeout(op, request.timeout_seconds, call.time_remaining)
        call.deadline = time.monotonic() + call.timeout
        return await call_next(call)


def _bind_keywords(call: Call, op: Operation) -> dict[str, Any]:
    """Fill path values, query and headers; return the request-body properties given."""
    positional = call.request.positional
    if len(positional) > len(op.path_variables):
        names = ", ".join(op.path_variables) or "none"
        raise _invalid(
            op,
            f"takes {len(op.path_variables)} positional argument(s) (path variables: {names}) "
            f"but {len(positional)} were given",
        )
    for name, value in zip(op.path_variables, positional, strict=False):
        call.path_values[name] = _path_value(op, name, from_value(value))
    body_fields: dict[str, Any] = {}
    given: set[str] = set()
    for entry in call.request.keywords:
        key = entry.key
        value = from_value(entry.value)
        param = op.parameters.get(key)
        if param is None:
            if key in op.body_properties:
                body_fields[key] = value
                continue
            accepted = op.accepted_arguments
            hint = did_you_mean(key, accepted)
            raise _invalid(
                op,
                f"unexpected argument {key!r}"
                + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else "")
                + f" (accepted: {', '.join(accepted) or 'none'}; plus params, json, data, headers, timeout)",
                field=key,
                suggestions=hint or accepted,
            )
        if value is None and param.location != "path":
            continue  # None means "not given", as in requests' params
        given.add(key)
        _check_type(op, param.arg_name, param.type, value)
        if param.location == "path":
            if param.name in call.path_values:
                raise _invalid(op, f"got multiple values for path variable {param.name!r}", field=key)
            call.path_values[param.name] = _path_value(op, param.name, value)
        elif param.location == "query":
            for item in value if isinstance(value, list) else (value,):
                call.query.append((param.name, _scalar_text(op, key, item)))
        else:
            text = _scalar_text(op, key, value)
            _check_header(op, param.name, text)
            call.headers.append((param.name, text))
    missing = [v for v in op.path_variables if v not in call.path_values]
    missing += [
        p.arg_name for p in op.parameters.values() if p.required and p.location != "path" and p.arg_name not in given
    ]
    if missing:
        raise _invalid(
            op,
            f"missing required argument(s): {', '.join(missing)} (accepted: {', '.join(op.accepted_arguments)})",
            field=missing[0],
        )
    return body_fields


def _bind_body(call: Call, op: Operation, body_fields: dict[str, Any]) -> None:
    request = call.request
    given = [name for name in ("json", "raw_body") if request.HasField(name)] + (["data"] if request.form else [])
    if len(given) > 1:
        raise _invalid(op, "pass only one of json= or data=", field="json")
    if body_fields:
        if given and given != ["json"]:
            names = ", ".join(sorted(body_fields))
            raise _invalid(op, f"body arguments ({names}) make a JSON body and cannot be combined with data=")
        call.body = _merge_json(op, request, body_fields)
        call.content_type = "application/json"
    elif request.HasField("json"):
        call.body = request.json
        call.content_type = "application/json"
    elif request.form:
        call.body = urlencode([(kv.key, kv.value) for kv in request.form]).encode()
        call.content_type = "application/x-www-form-urlencoded"
    elif request.HasField("raw_body"):
        call.body = request.raw_body
        call.content_type = request.content_type or None
    if call.content_type and not any(k.lower() == "content-type" for k, _ in call.headers):
        call.headers.append(("Content-Type", call.content_type))


def _merge_json(op: Operation, request: Any, fields: dict[str, Any]) -> bytes:
    body: Any = {}
    if request.HasField("json"):
        try:
            body = json.loads(request.json)
        except ValueError as exc:
            raise _invalid(op, f"json= is not valid JSON: {exc}", field="json") from None
        if not isinstance(body, dict):
            raise _invalid(op, "json= must be an object to combine it with body arguments", field="json")
    for key, value in fields.items():
        if key in body and body[key] != value:
            raise _invalid(op, f"argument {key!r} conflicts with json[{key!r}]", field=key)
        body[key] = value
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _path_value(op: Operation, name: str, value: Any) -> str:
    if value is None:
        raise _invalid(op, f"path variable {name!r} must not be None", field=name)
    text = _scalar_text(op, name, value)
    # An empty or dot segment would change which resource the path names.
    if text in ("", ".", ".."):
        raise _invalid(op, f"path variable {name!r} must not be {text!r}", field=name)
    return text


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


def _check_type(op: Operation, name: str, declared: str, value: Any) -> None:
    expected = _PYTHON_TYPES[declared]
    if (isinstance(value, bool) and declared != "boolean") or not isinstance(value, expected):
        raise _invalid(op, f"argument {name!r} must be {declared}, not {type(value).__name__}", field=name)


def _check_header(op: Operation, name: str, value: str) -> None:
    if not HEADER_NAME.match(name):
        raise _invalid(op, f"header name {name!r} is not a valid HTTP token", field="headers")
    if _BAD_HEADER_VALUE.search(value):
        raise _invalid(op, f"header {name!r} contains CR, LF or NUL", field="headers")
    if name.lower() in FORBIDDEN_HEADERS:
        raise _invalid(op, f"header {name!r} is set by the sidecar and may not be passed", field="headers")


def _effective_timeout(op: Operation, requested: float, time_remaining: float | None) -> float:
    timeout = op.timeout
    if requested > 0:
        timeout = min(timeout, requested)
    if time_remaining is not None:
        timeout = min(timeout, max(time_remaining, 0.001))
    return timeout


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
