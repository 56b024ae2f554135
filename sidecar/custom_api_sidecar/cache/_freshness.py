"""How long an answer may be reused: the endpoint's ``ttl_s``, unless the upstream says less.

The upstream's caching headers win when they are stricter, never when they are laxer:

- ``Cache-Control: no-store`` or ``no-cache`` (we never revalidate): not stored;
- ``private``: not stored in the ``api`` scope (it is shared by every caller with the same
  credentials), stored in the ``conversation`` scope;
- ``s-maxage`` (``api`` scope, a shared cache) or ``max-age``, else ``Expires`` minus ``Date``:
  shortens the TTL, minus the ``Age`` the answer already has; an unparsable ``Expires`` means
  already expired (RFC 9111 5.3);
- ``Vary: *``: not stored. Any other ``Vary`` is already honoured: the key holds every header
  the caller sent and the credentials injected; the sidecar's own headers are the same for every call.

Only success is stored: status 200-299 except 206 (a partial answer); a 404 is not (the record
may exist a moment later), nor any answer carrying ``Set-Cookie`` (a session must not be shared).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_DIRECTIVE_DIGITS = 10  # a delta-seconds longer than this is "very long": it shortens nothing


def freshness(status: int, headers: Iterable[tuple[str, str]], ttl_s: float, shared: bool) -> float | None:
    """Seconds the answer may be reused (> 0), or None when it must not be stored.
    ``shared``: the ``api`` scope (every caller with the same credentials sees the entry)."""
    if not 200 <= status <= 299 or status == 206:
        return None
    control: list[str] = []
    expires = date = age = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cache-control":
            control.extend(part.strip().lower() for part in value.split(","))
        elif lowered == "set-cookie" or (lowered == "vary" and "*" in value):
            return None
        elif lowered == "expires":
            expires = value
        elif lowered == "date":
            date = value
        elif lowered == "age":
            age = value
    lifetime = ttl_s
    max_age = s_maxage = None
    for directive in control:
        name, _, argument = directive.partition("=")
        name = name.strip()
        if name in ("no-store", "no-cache") or (name == "private" and shared):
            return None
        if name == "max-age":
            max_age = _seconds(argument)
        elif name == "s-maxage":
            s_maxage = _seconds(argument)
    upstream = s_maxage if shared and s_maxage is not None else max_age
    if upstream is None and expires is not None:
        upstream = _expires_in(expires, date)
    if upstream is not None:
        lifetime = min(lifetime, upstream)
    if age is not None:
        already = _seconds(age)
        if already is None:  # older than any lifetime
            return None
        lifetime -= already
    return lifetime if lifetime > 0 else None


def _seconds(text: str) -> float | None:
    """A delta-seconds value; an invalid one is 0 (stale at once), a huge one None (no limit)."""
    text = text.strip().strip('"')
    if not text.isdigit() or not text.isascii():
        return 0.0
    if len(text) > MAX_DIRECTIVE_DIGITS:
        return None
    return float(text)


def _expires_in(expires: str, date: str | None) -> float:
    try:
        until = parsedate_to_datetime(expires[:64])
        since = parsedate_to_datetime(date[:64]) if date else datetime.now(UTC)
    except (TypeError, ValueError, IndexError):
        return 0.0
    try:
        return (until - since).total_seconds()
    except TypeError:  # one naive, one aware
        return 0.0
