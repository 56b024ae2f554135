"""Reading the hashed lock files (requirements/*.lock): the lock tests and the image's SBOM test."""

from __future__ import annotations

import pathlib
import re

from packaging.utils import canonicalize_name

LOCKS = pathlib.Path(__file__).resolve().parents[2] / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.MULTILINE)


def pins_with_hashes(name: str) -> dict[str, tuple[str, int]]:
    """``{distribution: (version, number of hashes)}`` of ``requirements/<name>``."""
    text = (LOCKS / name).read_text()
    return {canonicalize_name(m[1]): (m[2], m[3].count("--hash=")) for m in PIN.finditer(text)}


def pins(name: str) -> dict[str, str]:
    """``{distribution: version}`` of ``requirements/<name>``."""
    return {dist: version for dist, (version, _) in pins_with_hashes(name).items()}
