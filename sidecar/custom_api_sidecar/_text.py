"""Quoting untrusted values in messages: an API definition's values come from its author, a spec's
from anywhere, an argument's or a name's from an LLM. A message (a config problem, an error sent
back in gRPC metadata, a log line) quotes at most a bounded part of one, so a 10 MB name can never
become a 10 MB log line or an error too large for gRPC."""

from __future__ import annotations

import reprlib

# A string this long is quoted whole (the longest valid api or operation name); a longer one as a
# short prefix and its length.
QUOTED_CHARS = 64
_PREFIX = 32
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxset = _SHORT.maxtuple = 4
_SHORT.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)``, bounded: a string whole up to ``QUOTED_CHARS`` characters, else
    ``'prefix'... (N characters)``; anything else shortened (``[1, 2, 3, 4, ...]``)."""
    if isinstance(value, str):
        if len(value) <= QUOTED_CHARS:
            return repr(value)
        return f"{value[:_PREFIX]!r}... ({len(value)} characters)"
    return _SHORT.repr(value)


def clipped(text: str, limit: int = 200) -> str:
    """``text`` as it is (unquoted: a path, a reference) up to ``limit`` characters, else cut and
    marked with its length."""
    return text if len(text) <= limit else f"{text[: limit // 2]}... ({len(text)} characters)"
