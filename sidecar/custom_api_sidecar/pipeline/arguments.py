"""Stage: what a caller may send beyond an operation's declared arguments.

An operation is the unit of permission: an agent (an LLM writes many of its calls) may call a
read-only ``get_contact``, and must not be able to turn it into a delete or a call to another URL.
Many servers and gateways honour headers and parameters that change the method or the route
(Rails, Laravel, Symfony, IIS, proxies), so whatever the caller adds with ``headers=``,
``params=``, ``data=``, ``json=`` or a raw body is checked here, before anything is bound:

- **Routing arguments are refused**, each named: the method overrides (``X-HTTP-Method-Override``,
  ``X-HTTP-Method``, ``X-Method-Override``, a ``_method`` query parameter or top-level body
  field), URL rewrites (``X-Original-URL``, ``X-Rewrite-URL``), and what proxies trust for the
  client and the route (``Forwarded``, ``X-Forwarded-*``, ``X-Real-IP``, ``X-Original-Host``,
  ``X-Host``, ``Proxy-*``). An API lets one through by name (``security.allow_routing``) when its
  upstream needs it; an argument the operation itself declares is the definition's, not the
  caller's. (``Host``, hop-by-hop and transport headers are never the caller's: the bind stage
  refuses them for every API.)
- **Undeclared arguments**, with ``security.extra_arguments: refuse`` (or an operator policy that
  forces it): every query parameter, header and body field the operation does not declare is
  refused, named; ``data=`` and a raw body are read and checked against the body schema too
  (``json=`` is checked by the bind stage already), and a body is refused where none is declared.

The common case (no ``headers=``, ``params=`` or body from the caller) costs two empty loops.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

from custom_api_client.proto.sidecar_pb2 import ErrorCode, InvokeRequest

from .._text import shown
from ..config._model import METHOD_PARAMETER, is_routing_header
from ..errors import SidecarError
from ..registry import Operation
from ._call import Call, UpstreamResponse
from ._compose import Handler


class _Declared:
    """What one operation declares, and what its API lets through: read once, on its first call."""

    __slots__ = ("allowed", "body", "headers", "method_allowed", "query", "refuse_extra")

    def __init__(self, op: Operation) -> None:
        security = op.api.config.security
        params = op.parameters.values()
        self.headers = frozenset(p.name.lower() for p in params if p.location == "header")
        self.query = frozenset(p.name for p in params if p.location == "query")
        self.body = op.body_properties
        self.allowed = frozenset(name.lower() for name in security.allow_routing) | self.headers
        self.method_allowed = METHOD_PARAMETER in {*security.allow_routing, *self.query, *self.body}
        self.refuse_extra = security.extra_arguments == "refuse"


class OperationArguments:
    def __init__(self) -> None:
        self._declared: dict[int, _Declared] = {}  # by operation, for this generation's operations

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op = call.operation
        assert op is not None
        request = call.request
        # keyword arguments are declared ones by construction (the bind stage refuses the rest)
        if request.headers or request.params or request.form or _has_body(request):
            declared = self._declared.get(id(op)) or self._declared.setdefault(id(op), _Declared(op))
            _check_routing(op, call, declared)
            if declared.refuse_extra:
                _check_declared(op, call, declared)
        return await call_next(call)


# --- routing arguments --------------------------------------------------------------------------


def _check_routing(op: Operation, call: Call, declared: _Declared) -> None:
    request = call.request
    for kv in request.headers:
        name = kv.key.lower()
        if is_routing_header(name) and name not in declared.allowed:
            raise _routing(op, f"header {shown(kv.key)}", "headers", kv.key)
    if declared.method_allowed:
        return
    if any(kv.key == METHOD_PARAMETER for kv in request.params):
        raise _routing(op, f"query parameter {METHOD_PARAMETER!r}", "params", METHOD_PARAMETER)
    if METHOD_PARAMETER in _body_fields(op, call, quick=METHOD_PARAMETER):
        raise _routing(op, f"body field {METHOD_PARAMETER!r}", "json", METHOD_PARAMETER)


def _routing(op: Operation, what: str, field: str, name: str) -> SidecarError:
    return _invalid(
        op,
        f"{what} can change the method or the route the upstream serves, so a caller may not send it "
        f"(an API that needs it lists it in security.allow_routing)",
        field,
        name,
    )


# --- undeclared arguments (security.extra_arguments: refuse) ------------------------------------


def _check_declared(op: Operation, call: Call, declared: _Declared) -> None:
    request = call.request
    for kv in request.params:
        if kv.key not in declared.query:
            raise _undeclared(op, f"query parameter {shown(kv.key)}", "params", _names(op, "query"))
    for kv in request.headers:  # Content-Type describes the body, which is checked below
        name = kv.key.lower()
        if name not in declared.headers and name != "content-type":
            raise _undeclared(op, f"header {shown(kv.key)}", "headers", _names(op, "header"))
    if not (request.form or _has_body(request)):
        return
    if op.endpoint.request_body is None:
        raise _invalid(
            op, "this operation declares no request body, and this API accepts only declared arguments", "json"
        )
    if request.HasField("raw_body") and _media_type(_raw_content_type(request)) == "other":
        raise _invalid(
            op,
            f"a raw body of type {shown(_raw_content_type(request))} cannot be checked against the operation's "
            "body schema, and this API accepts only declared arguments: send json= or data=",
            "raw_body",
        )
    fields = _body_fields(op, call)
    for name in fields:
        if name not in declared.body:
            raise _undeclared(op, f"body field {shown(name)}", "json", sorted(op.body_properties))
    missing = [name for name in op.body_required if name not in fields and name not in op.context_bindings]
    if missing:
        raise _invalid(op, f"the body is missing required field(s): {', '.join(missing)}", "json")
    if (
        request.HasField("raw_body")
        and op.body_validator is not None
        and _media_type(_raw_content_type(request)) == "json"
    ):
        violation = op.body_validator.violation(_raw_json(op, request.raw_body))
        if violation is not None:
            raise _invalid(op, f"body{violation.path.removeprefix('$')}: {violation.summary}", "json")


def _undeclared(op: Operation, what: str, field: str, accepted: Iterable[str]) -> SidecarError:
    names = ", ".join(accepted) or "none"
    return _invalid(
        op,
        f"{what} is not declared by this operation, and this API accepts only declared arguments "
        f"(security.extra_arguments: refuse); declared: {names}",
        field,
    )


def _names(op: Operation, location: str) -> list[str]:
    return sorted(p.name for p in op.parameters.values() if p.location == location)


# --- the caller's body fields -------------------------------------------------------------------


def _body_fields(op: Operation, call: Call, quick: str | None = None) -> list[str]:
    """The top-level field names of the caller's ``data=``, ``json=`` or raw body (form or JSON).
    With ``quick``, a body that cannot contain that name is not parsed at all."""
    request = call.request
    if request.form:
        return [kv.key for kv in request.form]
    if request.HasField("json"):
        raw, kind = request.json, "json"
    elif request.HasField("raw_body"):
        raw, kind = request.raw_body, _media_type(_raw_content_type(request))
    else:
        return []
    if quick is not None and quick.encode() not in raw:
        return []
    if kind == "json":
        body = _raw_json(op, raw)
        return list(body) if isinstance(body, dict) else []
    if kind == "form":
        try:
            return [name for name, _ in parse_qsl(raw.decode(), keep_blank_values=True)]
        except UnicodeDecodeError:
            raise _invalid(op, "the form body is not UTF-8 text", "raw_body") from None
    return []


def _has_body(request: InvokeRequest) -> bool:
    return request.HasField("json") or request.HasField("raw_body")


def _raw_json(op: Operation, raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        raise _invalid(op, "the body is not valid JSON", "json") from None


def _raw_content_type(request: InvokeRequest) -> str:
    """What the caller says its raw body is: the request's content type, else its Content-Type header."""
    if request.content_type:
        return request.content_type
    return next((kv.value for kv in request.headers if kv.key.lower() == "content-type"), "")


def _media_type(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    return "form" if media == "application/x-www-form-urlencoded" else "other"


def _invalid(op: Operation, message: str, field: str, name: str = "") -> SidecarError:
    return SidecarError(
        ErrorCode.INVALID_ARGUMENT,
        f"{op.api.name}.{op.name}: {message}",
        api=op.api.name,
        operation=op.name,
        field=name or field,
    )
