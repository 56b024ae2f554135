"""The credentials a call sent, cut out of the response the agent gets (body, headers, reason).

An upstream that echoes its request (httpbin's ``/headers``, ``/get``, ``/anything``, debug
endpoints, error pages quoting the URL) would otherwise hand the agent the very secret the
sidecar exists to keep from it. Each value an authenticator lists in ``Credentials.secrets``
is found in every form an echo takes, character by character, so a mix of forms is found too:

- as sent, and as raw UTF-8;
- percent-encoded (``%2F`` or ``%2f``, ``+`` for a space), the way a query-parameter key is
  sent, or partly decoded again the way a server rebuilds a URL (httpbin's ``url``);
- escaped inside a JSON string: ``\\/``, ``\\"``, ``\\\\``, ``\\n``..., and ``\\uXXXX`` in either
  case for any character that is not a letter or a digit (Go's ``\\u003c`` style included);
- HTML/XML entities for ``& < > " '``.

Letters, digits and ``-_.`` are never escaped by those encoders, so the longest run of them in
a secret is searched for first with one ``bytes.find``: a body without it cannot hold the
secret in any of these forms, and costs nothing more. Not covered: base64 or other re-encodings
of a value (basic auth's base64 form is listed by the authenticator itself), double
percent-encoding, a letter or digit written as an escape, and bodies in other charsets than UTF-8.

A secret shorter than ``MIN_SUBSTRING_SECRET`` characters could occur by chance in unrelated
bytes: it is redacted only where it stands whole, as a complete JSON string (``"abc"``), a
complete ``name=value`` value (followed by ``&``, ``#``, ``"`` or the end), or a complete
header value or reason phrase; a response header holding a longer secret anywhere is dropped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._call import REDACTED, UpstreamResponse

MARKER = REDACTED.encode()
# A secret this short is matched whole, not as a substring, so it cannot wipe unrelated bytes.
MIN_SUBSTRING_SECRET = 6
# Characters no percent, JSON or HTML encoder escapes: the part of a secret every echo keeps as is.
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ENTITIES = {
    "&": ("&amp;", "&#38;", "&#x26;"),
    "<": ("&lt;", "&#60;", "&#x3c;"),
    ">": ("&gt;", "&#62;", "&#x3e;"),
    '"': ("&quot;", "&#34;", "&#x22;"),
    "'": ("&#39;", "&#x27;", "&apos;"),
}


@dataclass(frozen=True, slots=True)
class Echo:
    """How one secret value is found in an echo."""

    anchor: bytes  # the longest run of plain characters: absent means the secret is absent
    anchor_text: str  # the same, to look in a header without encoding it
    literal: bool  # the whole secret is plain: its only form is the anchor itself
    short: bool
    anywhere: re.Pattern[bytes]  # every form, as a substring
    body: re.Pattern[bytes]  # what is replaced in a body (for a short secret: whole values only)


class Echoes:
    """The secrets one call sent, ready to be found; built once per distinct set of secrets."""

    __slots__ = ("echoes",)

    def __init__(self, echoes: tuple[Echo, ...]) -> None:
        self.echoes = echoes

    def redact_body(self, body: bytes) -> bytes:
        absent: set[bytes] = set()  # "Bearer <token>" and "<token>" share their anchor: one search
        for echo in self.echoes:
            if echo.anchor in absent:
                continue
            if echo.anchor not in body:  # the common case: one bytes.find
                absent.add(echo.anchor)
                continue
            # A plain secret's only form is itself: bytes.replace, no regular expression.
            plain = echo.literal and not echo.short
            body = body.replace(echo.anchor, MARKER) if plain else echo.body.sub(MARKER, body)
        return body

    def redact_text(self, text: str) -> str:
        """A short text such as a reason phrase: each long secret replaced, a short one only if it is all of it."""
        raw = text.encode("latin-1", "replace")
        for echo in self.echoes:
            if echo.anchor in raw:
                if echo.short:
                    if echo.anywhere.fullmatch(raw.strip()):
                        return REDACTED
                else:
                    raw = echo.anywhere.sub(MARKER, raw)
        return raw.decode("latin-1")

    def in_header(self, value: str) -> bool:
        """Whether a header value (latin-1, as received) carries a secret: a long one anywhere, a short one whole."""
        for echo in self.echoes:
            if echo.anchor_text in value:
                raw = value.encode("latin-1", "replace")
                if echo.anywhere.fullmatch(raw.strip()) if echo.short else echo.anywhere.search(raw):
                    return True
        return False

    def redact(self, response: UpstreamResponse, dropped_names: frozenset[str] = frozenset()) -> list[str]:
        """Redact ``response`` in place; returns the names of the headers dropped (names in
        ``dropped_names``, lower-case, are dropped whatever their value)."""
        dropped: list[str] = []
        headers: list[tuple[str, str]] = []
        for name, value in response.headers:
            if name.lower() in dropped_names or self.in_header(value) or self.in_header(name):
                dropped.append(name)
            else:
                headers.append((name, value))
        body = self.redact_body(response.body) if response.body else response.body
        if len(body) != len(response.body):
            headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
        response.headers, response.body = headers, body
        if response.reason:
            response.reason = self.redact_text(response.reason)
        return dropped


def echoes(secrets: Iterable[str]) -> Echoes:
    return _echoes(tuple(sorted({s for s in secrets if s})))


@functools.lru_cache(maxsize=256)
def _echoes(secrets: tuple[str, ...]) -> Echoes:
    # Longest first: a secret inside another ("<token>" in "Bearer <token>", or a user name inside a
    # password) must not be cut out of it first, which would leave the rest of the longer one.
    return Echoes(tuple(_echo(s) for s in sorted(secrets, key=len, reverse=True)))


@functools.lru_cache(maxsize=256)
def _echo(secret: str) -> Echo:
    encoded = secret.encode("utf-8", "surrogatepass")
    runs = re.findall(rb"[A-Za-z0-9_.\-]+", encoded)
    anchor = max(runs, key=len) if runs else b""  # nothing plain: every body is searched
    pattern = b"".join(_forms(char) for char in secret)
    short = len(secret) < MIN_SUBSTRING_SECRET
    anywhere = re.compile(pattern)
    # Short: a complete JSON string, or a complete name=value value.
    body = re.compile(b'(?<=")' + pattern + b'(?=")|(?<==)' + pattern + b'(?=[&#"]|\\Z)') if short else anywhere
    return Echo(anchor, anchor.decode("ascii"), all(b in _PLAIN for b in encoded), short, anywhere, body)


def _forms(char: str) -> bytes:
    """A regular expression (bytes) for one character of a secret in any of the echo forms."""
    raw = char.encode("utf-8", "surrogatepass")
    if len(raw) == 1 and raw[0] in _PLAIN:
        return re.escape(raw)
    forms = [re.escape(raw), b"".join(b"%%(?i:%02x)" % byte for byte in raw)]
    if char == " ":
        forms.append(rb"\+")
    if char in _JSON_ESCAPES:
        forms.append(re.escape(_JSON_ESCAPES[char].encode()))
    forms.append(_json_unicode(char))
    forms.extend(re.escape(entity.encode()) for entity in _ENTITIES.get(char, ()))
    # Escapes first: a literal backslash must not match the first half of its JSON escape.
    return b"(?:" + b"|".join(reversed(forms)) + b")"


def _json_unicode(char: str) -> bytes:
    code = ord(char)
    units: tuple[int, ...] = (code,)
    if code > 0xFFFF:  # a surrogate pair
        code -= 0x10000
        units = (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
    return b"".join(b"\\\\u(?i:%04x)" % unit for unit in units)
