"""Stage: arguments bound to the conversation's trusted context (``from_context:`` in the config).

The platform knows facts the LLM must not choose: the verified caller number, the customer's
account id. The client sends them with every call (``connect(..., context={...})``) as gRPC
metadata, one entry per key: ``x-context-<key>``, the value percent-encoded UTF-8. This stage

1. reads and checks them (every call that carries any, whatever its operation: the client is
   not trusted, so the key syntax, the count, each value's length and characters, and the bytes
   on the wire are bounded here, before any decoding);
2. for an operation with bound arguments, refuses a call that passes one itself, in any form
   (a keyword, ``params=``, ``headers=``, a field of ``json=``, ``data=`` or a raw body), saying it
   is bound to the conversation context; refuses a call whose context lacks a key, naming it;
   and hands the values (converted to the argument's type) to the bind stage, which validates
   and encodes them like any argument.

A bound value is never shown: a bound path or query value is replaced in the URL that spans, audit
records and errors carry (``hide_bound_values``), and a value failing its schema is reported
without it. The audit record names the keys an operation used (``context_keys``).

A background call is checked here when it is submitted, and its metadata is stored with it (sealed,
in fleet mode): it runs with the values of the context it was made in.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from custom_api_client._context import (
    CONTEXT_KEY,
    CONTEXT_PREFIX,
    CONTROL,
    MAX_CONTEXT_BYTES,
    MAX_CONTEXT_KEYS,
    MAX_CONTEXT_VALUE_CHARS,
)
from custom_api_client.proto.sidecar_pb2 import ErrorCode

from .._text import shown
from ..errors import SidecarError
from ._call import REDACTED, Call, OutboundRequest, UpstreamResponse
from ._compose import Handler

if TYPE_CHECKING:
    from ..registry import ContextBinding, Operation

_INTEGER = re.compile(r"^-?[0-9]{1,18}\Z")
_NUMBER = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?\Z")
_BOOLEANS = {"true": True, "false": False}


def read_trusted_context(metadata: tuple[tuple[str, Any], ...]) -> dict[str, str]:
    """The context values in call metadata, by key; SidecarError(INVALID_ARGUMENT) naming what is
    wrong (never quoting a value). Bounded before work: the count, then each entry's bytes."""
    entries = [(key, value) for key, value in metadata if key.startswith(CONTEXT_PREFIX)]
    if not entries:
        return {}
    if len(entries) > MAX_CONTEXT_KEYS:
        raise _bad(f"the call carries {len(entries)} context entries; at most {MAX_CONTEXT_KEYS} are allowed")
    found: dict[str, str] = {}
    size = 0
    for metadata_key, raw in entries:
        key = metadata_key[len(CONTEXT_PREFIX) :]
        if not CONTEXT_KEY.match(key):
            raise _bad(
                f"context key {shown(key)} must be 1-64 characters of lowercase letters, digits and _, "
                "starting with a letter"
            )
        if not isinstance(raw, str):
            raise _bad(f"context[{key!r}] must be text metadata, not binary")
        size += len(metadata_key) + len(raw)
        if size > MAX_CONTEXT_BYTES:
            raise _bad(f"the context takes more than {MAX_CONTEXT_BYTES} bytes of metadata")
        if key in found:
            raise _bad(f"context[{key!r}] is given twice")
        try:
            value = unquote(raw, errors="strict") if "%" in raw else raw  # most values need no decoding
        except UnicodeDecodeError:
            raise _bad(f"context[{key!r}] is not percent-encoded UTF-8") from None
        if not value or len(value) > MAX_CONTEXT_VALUE_CHARS:
            raise _bad(f"context[{key!r}] is {len(value)} characters; values are 1-{MAX_CONTEXT_VALUE_CHARS}")
        if CONTROL.search(value):
            raise _bad(f"context[{key!r}] holds a control character (CR, LF, NUL, ...)")
        found[key] = value
    return found


class BindFromContext:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        if call.metadata:
            call.context = read_trusted_context(call.metadata)
        op = call.operation
        assert op is not None
        if op.context_bindings:
            _refuse_callers_values(call, op)
            for binding in op.context_bindings.values():
                value = call.context.get(binding.key)
                if value is None:
                    raise _invalid(
                        op,
                        f"argument {binding.argument!r} is bound to the conversation context, and this call's "
                        f"context has no {binding.key!r} (the client sets it: connect(..., context={{...}}))",
                        binding.key,
                    )
                call.bound_arguments[binding.argument] = _converted(op, binding, value)
            call.context_keys = tuple(dict.fromkeys(b.key for b in op.context_bindings.values()))
        return await call_next(call)


def _refuse_callers_values(call: Call, op: Operation) -> None:
    """INVALID_ARGUMENT when the caller passes a bound argument itself, in whichever form."""
    request = call.request
    bindings = op.context_bindings
    for entry in request.keywords:
        if entry.key in bindings:
            raise _bound(op, bindings[entry.key], "")
    # Names compare case-insensitively: many servers read Phone= or {"Caller": ...} as phone and caller.
    for binding in bindings.values():
        if binding.location == "query" and any(kv.key.lower() == binding.wire_name.lower() for kv in request.params):
            raise _bound(op, binding, f" (as query parameter {binding.wire_name!r} in params=)")
        if binding.location == "header":
            name = binding.wire_name.lower()
            if any(kv.key.lower() == name for kv in request.headers):
                raise _bound(op, binding, f" (as header {binding.wire_name!r} in headers=)")
        if binding.location == "body":
            if request.form or request.HasField("raw_body"):
                raise _invalid(
                    op,
                    f"body property {binding.argument!r} is bound to the conversation context, so the body is "
                    "built from arguments: pass keyword arguments or json=, not data= or a raw body",
                    binding.argument,
                )
            if request.HasField("json") and _json_has(request.json, binding.wire_name):
                raise _bound(op, binding, " (as a field of json=)")


def _json_has(raw: bytes, name: str) -> bool:
    """Whether ``json=`` has a top-level field ``name``, in any case and however it is escaped
    (``"\\u0063aller"`` is ``caller``): parsed, not searched."""
    try:
        body = json.loads(raw)
    except ValueError:
        return False  # the bind stage reports the JSON itself
    wanted = name.lower()
    return isinstance(body, dict) and any(key.lower() == wanted for key in body)


def _converted(op: Operation, binding: ContextBinding, value: str) -> Any:
    """The context string as the argument's type; INVALID_ARGUMENT naming the key, not the value."""
    if binding.type == "string":
        return value
    if binding.type == "integer" and _INTEGER.match(value):
        return int(value)
    if binding.type == "number" and _NUMBER.match(value):
        return float(value) if any(c in value for c in ".eE") else int(value)
    if binding.type == "boolean" and value in _BOOLEANS:
        return _BOOLEANS[value]
    raise _invalid(
        op,
        f"the conversation context's {binding.key!r} is not a {binding.type}, which argument "
        f"{binding.argument!r} takes",
        binding.key,
    )


def hide_bound_values(outbound: OutboundRequest, call: Call, op: Operation) -> None:
    """Keep bound values out of the URL that spans, audit records and errors show."""
    bound = {b.wire_name: b.location for b in op.context_bindings.values()}
    outbound.secret_query_names.update(name for name, where in bound.items() if where == "query")
    if "path" in bound.values():
        parts = [op.api.base_path]
        for index, part in enumerate(op.path_parts):
            if index % 2:
                parts.append(REDACTED if bound.get(part) == "path" else call.path_values[part])
            else:
                parts.append(part)
        outbound.shown_path = "".join(parts)


def _bound(op: Operation, binding: ContextBinding, how: str) -> SidecarError:
    return _invalid(
        op,
        f"argument {binding.argument!r}{how} is bound to the conversation context (key {binding.key!r}): "
        "its value comes from the conversation, not from the call",
        binding.argument,
    )


def _invalid(op: Operation, message: str, field: str) -> SidecarError:
    api, name = op.api.name, op.name
    return SidecarError(ErrorCode.INVALID_ARGUMENT, f"{api}.{name}: {message}", api=api, operation=name, field=field)


def _bad(message: str) -> SidecarError:
    return SidecarError(ErrorCode.INVALID_ARGUMENT, f"metadata: {message}", field="context")
