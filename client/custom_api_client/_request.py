"""Turns a requests-style call ``op(*args, params=, json=, data=, headers=, timeout=, **kw)``
into an ``InvokeRequest``. Meaning is decided by the sidecar; this only encodes."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidArgument
from .proto import sidecar_pb2 as pb
from .values import to_value

# Keyword arguments that mean what they mean in requests; every other keyword
# is an operation argument bound by the sidecar.
RESERVED = frozenset({"params", "json", "data", "headers", "timeout", "background"})


def build_invoke_request(api: str, operation: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> pb.InvokeRequest:
    """The ``InvokeRequest`` for ``conv.api.<api>.<operation>(*args, **kwargs)``: positional and keyword
    arguments as typed values, and ``params=``, ``json=``, ``data=``, ``headers=``, ``timeout=``,
    ``background=`` with their requests meaning. Raises ``errors.InvalidArgument`` for a value it cannot encode."""
    request = pb.InvokeRequest(api=api, operation=operation)
    for index, arg in enumerate(args):
        request.positional.append(to_value(arg, f"positional argument {index + 1}"))
    for key, arg in kwargs.items():
        if key not in RESERVED:
            request.keywords.add(key=key, value=to_value(arg, key))
    params = kwargs.get("params")
    if params is not None:
        for key, value in _pairs(params, "params"):
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if item is not None:
                    request.params.add(key=str(key), value=_text(item, f"params[{key!r}]"))
    if kwargs.get("json") is not None and kwargs.get("data") is not None:
        raise InvalidArgument("pass json= or data=, not both", field="json")
    if kwargs.get("json") is not None:
        request.json = _encode_json(kwargs["json"])
    data = kwargs.get("data")
    if isinstance(data, (str, bytes, bytearray)):
        request.raw_body = data.encode() if isinstance(data, str) else bytes(data)
    elif data is not None:
        for key, value in _pairs(data, "data"):
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if item is not None:
                    request.form.add(key=str(key), value=_text(item, f"data[{key!r}]"))
    headers = kwargs.get("headers")
    if headers is not None:
        for key, value in _pairs(headers, "headers"):
            if value is None:  # requests drops None-valued headers
                continue
            if not isinstance(value, (str, bytes)):
                raise InvalidArgument(
                    f"header {key!r} must be str or bytes, not {type(value).__name__}", field="headers"
                )
            request.headers.add(key=str(key), value=value.decode("latin-1") if isinstance(value, bytes) else value)
            if str(key).lower() == "content-type":
                request.content_type = request.headers[-1].value
    timeout = kwargs.get("timeout")
    if timeout is not None:
        request.timeout_seconds = _timeout_seconds(timeout)
    background = kwargs.get("background")
    if background is not None:
        if not isinstance(background, bool):
            raise InvalidArgument("background must be True or False", field="background")
        request.background = background
    return request


def _pairs(obj: Any, name: str) -> Iterable[tuple[Any, Any]]:
    if isinstance(obj, Mapping):
        return obj.items()
    if isinstance(obj, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in obj):
        return obj
    raise InvalidArgument(f"{name}= must be a mapping or a list of (key, value) pairs", field=name)


def _text(value: Any, where: str) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, int, float)):  # bool is an int: str(True) == "True", as in requests
        return str(value)
    raise InvalidArgument(f"{where} must be str, bytes or a number, not {type(value).__name__}", field=where)


def _encode_json(obj: Any) -> bytes:
    try:
        return jsonlib.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"json= body is not JSON-serializable: {exc}", field="json") from exc


def _timeout_seconds(timeout: Any) -> float:
    # requests accepts (connect, read); the sidecar enforces one total budget.
    total = sum(timeout) if isinstance(timeout, (tuple, list)) else timeout
    if not isinstance(total, (int, float)) or isinstance(total, bool) or total <= 0:
        raise InvalidArgument(f"timeout= must be a positive number of seconds, not {timeout!r}", field="timeout")
    return float(total)
