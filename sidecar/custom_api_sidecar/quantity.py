"""Sizes written as Kubernetes quantities (``256Mi``, ``1Gi``, ``500M``, ``1048576``), so a
setting can carry the very string a chart gives a volume's ``sizeLimit``."""

from __future__ import annotations

import re

__all__ = ["parse_size"]

_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
# Whole numbers only, at most 15 digits: no fractions, exponents or signs to misread.
_SIZE = re.compile(r"([0-9]{1,15})(Ki|Mi|Gi|Ti|k|M|G|T)?")


def parse_size(text: str) -> int:
    """Bytes; ValueError naming the accepted forms (the input is echoed only when short)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        shown = repr(text) if len(text) <= 32 else f"a {len(text)}-character value"
        raise ValueError(f"{shown} is not a size: give bytes, or a number with Ki, Mi, Gi, Ti, k, M, G or T")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]
