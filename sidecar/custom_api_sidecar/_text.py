"""Quoting untrusted values in messages: an API definition's values come from its author, a spec's
from anywhere, an argument's from an LLM. A message quotes at most a bounded part of one, so a
10 MB name cannot become a 10 MB log line or error."""

from __future__ import annotations

import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxset = _SHORT.maxtuple = 4
_SHORT.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)``, shortened (``'abc...xyz'``, ``[1, 2, 3, 4, ...]``) to a bounded length."""
    return _SHORT.repr(value)
