"""Caller bounds: the most one Invoke may carry, checked before any work.

An agent's arguments are untrusted (an LLM writes many of them). Before a call is traced,
recorded, counted or looked up, its names, how many arguments it has and the sizes of the
headers and query it would send are checked against the ceilings below. A call over one gets
INVALID_ARGUMENT naming the bound, with ``field`` set to the request field that broke it
(``api``, ``operation``, ``positional``, ``keywords``, ``params``, ``headers``, ``form``,
``content_type``); the message never echoes an oversized value, and quotes at most a short
prefix of a name.

The numbers, and why (each is far above what a real call needs, and far below what costs
the sidecar anything):

- **names**: the config's own identifier rule (``config.IDENTIFIER``: 1-64 characters
  of a-z, 0-9 and _, starting with a letter). A name outside it cannot name a configured API
  or operation, so refusing it loses nothing, and a valid one is short enough for any label.
- **256** positional arguments, keyword arguments, params, headers, form fields, each: an
  operation has a handful of parameters; large OpenAPI operations have some tens.
- **256 characters** for an argument, header, query parameter or form field name: real ones
  are under 64.
- **8 KiB (8,192 characters)** for one header or query value: nginx refuses a request line or
  header line over 8 KiB (``large_client_header_buffers``), as do most servers.
- **64 KiB (65,536 characters)** for all headers together, and for the whole query: twice what
  nginx accepts in total (4 x 8 KiB) and four times Node.js's 16 KiB, so no upstream that
  would accept a request loses it here.
- **256 characters** of ``content_type``.

``check_request`` runs on the raw request (the caller's own ``params=`` and ``headers=``);
the bind stage runs ``pairs_problem`` again on the encoded headers and query, which include
declared parameters given as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from custom_api_client.proto.sidecar_pb2 import ErrorCode, InvokeRequest

from ._text import shown
from .config import IDENTIFIER
from .errors import SidecarError

__all__ = [
    "HEADERS",
    "MAX_CONTENT_TYPE_CHARS",
    "MAX_COUNT",
    "MAX_KEY_CHARS",
    "QUERY",
    "PairBounds",
    "check_request",
    "pairs_problem",
]

MAX_COUNT = 256  # positional arguments, keyword arguments, params, headers, form fields: each
MAX_KEY_CHARS = 256  # one argument, header, query parameter or form field name
MAX_VALUE_CHARS = 8 * 1024  # one header or query value
MAX_TOTAL_CHARS = 64 * 1024  # every header (names and values), or the whole query
MAX_CONTENT_TYPE_CHARS = 256
NAME_RULE = "1-64 characters of a-z, 0-9 and _, starting with a letter"
_NAME = IDENTIFIER.fullmatch


@dataclass(frozen=True)
class PairBounds:
    """Bounds on a list of name/value pairs that become HTTP headers or a query."""

    field: str  # the InvokeRequest field
    noun: str
    max_value_chars: int = MAX_VALUE_CHARS
    max_total_chars: int = MAX_TOTAL_CHARS


HEADERS = PairBounds("headers", "header")
QUERY = PairBounds("params", "query parameter")


def check_request(request: InvokeRequest) -> None:
    """SidecarError(INVALID_ARGUMENT) naming the first bound ``request`` is over; None if within all.
    Written for the common case (a few microseconds): messages are built only for a refusal."""
    if not (_NAME(request.api) and _NAME(request.operation)):
        _refuse_name(request)
    positional, keywords, params, headers, form = (
        request.positional,
        request.keywords,
        request.params,
        request.headers,
        request.form,
    )
    if max(len(positional), len(keywords), len(params), len(headers), len(form)) > MAX_COUNT:
        _refuse_count(request)
    for entry in keywords:
        if len(entry.key) > MAX_KEY_CHARS:
            _refuse(request, "keywords", _long_name("keyword argument", entry.key))
    for kv in form:
        if len(kv.key) > MAX_KEY_CHARS:
            _refuse(request, "form", _long_name("form field", kv.key))
    for bounds, pairs in ((QUERY, params), (HEADERS, headers)):
        if pairs:
            problem = pairs_problem(((kv.key, kv.value) for kv in pairs), bounds)
            if problem:
                _refuse(request, bounds.field, problem)
    if len(request.content_type) > MAX_CONTENT_TYPE_CHARS:
        size = len(request.content_type)
        _refuse(request, "content_type", f"content_type is {size} characters; at most {MAX_CONTENT_TYPE_CHARS}")


def pairs_problem(pairs: Iterable[tuple[str, str]], bounds: PairBounds) -> str | None:
    """What is over ``bounds`` in ``pairs`` (a name or value too long, or too much in all), or None."""
    total = 0
    for key, value in pairs:
        if len(key) > MAX_KEY_CHARS:
            return _long_name(bounds.noun, key)
        if len(value) > bounds.max_value_chars:
            return (
                f"{bounds.noun} {shown(key)}: its value is {len(value)} characters; "
                f"a {bounds.noun} value is at most {bounds.max_value_chars}"
            )
        total += len(key) + len(value)
        if total > bounds.max_total_chars:
            return f"{bounds.field}: over {bounds.max_total_chars} characters in all (names and values)"
    return None


def _refuse_name(request: InvokeRequest) -> None:
    for field, name in (("api", request.api), ("operation", request.operation)):
        if not _NAME(name):
            what = "is empty" if not name else f"{shown(name)} is not a valid name"
            raise SidecarError(ErrorCode.INVALID_ARGUMENT, f"{field} name {what}: names are {NAME_RULE}", field=field)


def _refuse_count(request: InvokeRequest) -> None:
    for field, noun in (
        ("positional", "positional arguments"),
        ("keywords", "keyword arguments"),
        ("params", "params (query parameters)"),
        ("headers", "headers"),
        ("form", "form fields"),
    ):
        count = len(getattr(request, field))
        if count > MAX_COUNT:
            _refuse(request, field, f"{count} {noun}; at most {MAX_COUNT} are accepted")


def _long_name(noun: str, name: str) -> str:
    return f"a {noun} name of {len(name)} characters ({shown(name)}); names are at most {MAX_KEY_CHARS}"


def _refuse(request: InvokeRequest, field: str, message: str) -> None:
    raise SidecarError(
        ErrorCode.INVALID_ARGUMENT,
        f"{request.api}.{request.operation}: {message}",
        api=request.api,
        operation=request.operation,
        field=field,
    )
