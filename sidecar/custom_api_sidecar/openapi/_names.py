"""Operation and argument names: snake_case identifiers usable as
``conv.api.<api>.<name>(<arg>=...)`` and as LLM tool names."""

from __future__ import annotations

import hashlib
import keyword
import re
import unicodedata
from collections.abc import Iterable, Sequence

from ..config._model import RESERVED_ARGUMENTS, RESERVED_NAMES, arg_name

MAX_NAME = 64
_HASH_LENGTH = 8


def snake_case(text: str) -> str:
    """``getPetById`` -> ``get_pet_by_id``, ``conversations.history`` -> ``conversations_history``;
    accents folded to ASCII, other characters dropped."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)  # HTTPResponse -> HTTP_Response
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)  # petById -> pet_By_Id
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def shorten(name: str, limit: int = MAX_NAME) -> str:
    """At most ``limit`` characters; a cut name ends in a short hash of the full one, so
    two long names that share a prefix stay distinct and stable across imports."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: limit - _HASH_LENGTH - 1].rstrip('_')}_{digest}"


def operation_name(operation_id: object, method: str, path: str) -> str:
    base = snake_case(operation_id) if isinstance(operation_id, str) else ""
    if not base:
        base = snake_case(f"{method} {path.replace('{', ' ').replace('}', ' ')}")
    if base[0].isdigit():
        base = f"op_{base}"
    if keyword.iskeyword(base) or base in RESERVED_NAMES:
        base += "_"
    return shorten(base)


def unique(names: Sequence[str]) -> list[str]:
    """De-duplicate in order: the first keeps its name, later ones get ``_2``, ``_3``, ...
    never taking a name another operation already has."""
    taken = set(names)
    counts: dict[str, int] = {}
    out = []
    for name in names:
        n = counts.get(name, 0) + 1
        counts[name] = n
        if n == 1:
            out.append(name)
            continue
        while True:
            suffix = f"_{n}"
            candidate = shorten(name, MAX_NAME - len(suffix)) + suffix
            if candidate not in taken:
                break
            n += 1
        counts[name] = n
        taken.add(candidate)
        out.append(candidate)
    return out


def argument_names(parameters: Iterable[tuple[str, str]], body_properties: Iterable[str]) -> list[str]:
    """Keyword-argument names for ``(wire name, location)`` parameters, in order.

    A wire name that is not an identifier, is a keyword, is a reserved call argument
    (``json``, ``params``, ...) or collides with another parameter or a request-body
    property gets a deterministic new argument name; the wire name stays as it is."""
    taken = set(body_properties)
    out = []
    for name, location in parameters:
        candidate = arg_name(name)
        if not candidate.isidentifier():
            candidate = snake_case(name) or "param"
            if candidate[0].isdigit():
                candidate = f"p_{candidate}"
        if keyword.iskeyword(candidate) or candidate in RESERVED_ARGUMENTS:
            candidate += "_"
        if candidate in taken:
            base = f"{candidate}_{location}"
            candidate, n = base, 1
            while candidate in taken:
                n += 1
                candidate = f"{base}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out
