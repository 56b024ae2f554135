"""Wire encodings for bound arguments: OpenAPI parameter styles and request bodies.

Parameter styles follow the OpenAPI 3 "style values" table (RFC 6570 for path
and header). Path results are percent-encoded atom by atom here, so only the
style's own delimiters stay literal and no value can add a path segment.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

Text = Callable[[Any], str]  # scalar -> wire text; raises for anything that is not a scalar

_QUERY_JOINERS = {"form": ",", "spaceDelimited": " ", "pipeDelimited": "|"}


def query_pairs(name: str, value: Any, style: str, explode: bool, text: Text) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        if style == "deepObject":
            return _deep_object(name, value, text)
        if style == "form" and explode:
            return [(str(k), text(v)) for k, v in value.items() if v is not None]
        joiner = _QUERY_JOINERS.get(style, ",")
        return [(name, joiner.join(text(x) for pair in _pairs(value) for x in pair))]
    if isinstance(value, list):
        items = [text(v) for v in value if v is not None]
        if explode or style == "deepObject":
            return [(name, item) for item in items]
        return [(name, _QUERY_JOINERS.get(style, ",").join(items))]
    return [(name, text(value))]


def _deep_object(prefix: str, value: dict[str, Any], text: Text) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}[{key}]"
        if isinstance(item, dict):
            pairs.extend(_deep_object(name, item, text))
        elif isinstance(item, list):
            pairs.extend((name, text(x)) for x in item if x is not None)
        elif item is not None:
            pairs.append((name, text(item)))
    return pairs


def path_segment(name: str, value: Any, style: str, explode: bool, text: Text) -> str:
    """The percent-encoded text for ``{name}`` in the path."""

    def enc(item: Any) -> str:
        return quote(text(item), safe="")

    if style == "matrix":
        if isinstance(value, list):
            if explode:
                return "".join(f";{name}={enc(v)}" for v in value)
            return f";{name}=" + ",".join(enc(v) for v in value)
        if isinstance(value, dict):
            if explode:
                return "".join(f";{enc(k)}={enc(v)}" for k, v in value.items())
            return f";{name}=" + ",".join(enc(x) for pair in _pairs(value) for x in pair)
        return f";{name}={enc(value)}"
    prefix, joiner = (".", "." if explode else ",") if style == "label" else ("", ",")
    if isinstance(value, list):
        return prefix + joiner.join(enc(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return prefix + joiner.join(f"{enc(k)}={enc(v)}" for k, v in value.items())
        return prefix + ",".join(enc(x) for pair in _pairs(value) for x in pair)
    return prefix + enc(value)


def header_value(value: Any, explode: bool, text: Text) -> str:
    if isinstance(value, list):
        return ",".join(text(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{k}={text(v)}" for k, v in value.items())
        return ",".join(text(x) for pair in _pairs(value) for x in pair)
    return text(value)


def _pairs(value: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(k, v) for k, v in value.items() if v is not None]


# --- request bodies -------------------------------------------------------------


def form_body(fields: dict[str, Any], text: Text) -> bytes:
    """application/x-www-form-urlencoded with OpenAPI's defaults: style form, explode true.

    A space is ``%20``, not ``+``: with ``allowReserved`` false (the default) a field holds no
    reserved character, "+" included (Prism refuses one), and every form decoder reads both."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is not None:
            pairs.extend(query_pairs(name, value, "form", True, text))
    return urlencode(pairs, quote_via=quote).encode()


def multipart_body(fields: dict[str, Any], text: Text) -> tuple[bytes, str]:
    """multipart/form-data (RFC 7578): bytes become file parts, objects JSON parts,
    arrays one part per item, everything else a text part. Returns (body, content type)."""
    boundary = secrets.token_hex(16)
    out = bytearray()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            disposition = f'form-data; name="{_quoted(name)}"'
            if isinstance(item, (bytes, bytearray)):
                headers = f'{disposition}; filename="{_quoted(name)}"', "application/octet-stream"
                content = bytes(item)
            elif isinstance(item, (dict, list)):
                headers = disposition, "application/json"
                content = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
            else:
                headers = disposition, ""
                content = text(item).encode()
            out += f"--{boundary}\r\nContent-Disposition: {headers[0]}\r\n".encode()
            if headers[1]:
                out += f"Content-Type: {headers[1]}\r\n".encode()
            out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(name: str) -> str:
    """A field name inside a quoted-string, escaped as the HTML form encoder does."""
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
