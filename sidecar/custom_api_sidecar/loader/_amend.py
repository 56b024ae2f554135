"""Endpoint entries that amend an imported OpenAPI operation instead of replacing it.

Under ``openapi:``, an ``endpoints:`` entry with neither ``method`` nor ``path`` names an imported
operation and gives it the per-operation settings a spec cannot carry, without writing the
operation out again (the spec may not be the config owner's to edit):

    endpoints:
      - {name: get_order, result: {select: "shipping.eta"}, cache: {ttl_s: 30},
         from_context: {customer_id: account_id}}

``from_context`` is applied while the spec is imported (``amended_bindings``), so the operation's
bound arguments are checked and left out of its schemas like a hand-written one's; ``result`` and
``cache`` are applied to the imported endpoint afterwards (``amend_imported``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._text import shown
from ..config._model import Endpoint
from ..config._problems import Problems
from ._cache import parse_cache
from ._result import parse_result

__all__ = ["AMENDING_KEYS", "amend_imported", "amended_bindings", "is_amendment"]

# The endpoint keys (described with the others in _loader) an amending entry may set.
AMENDING_KEYS = ("name", "result", "cache", "from_context")


def is_amendment(entry: Any) -> bool:
    return isinstance(entry, dict) and "method" not in entry and "path" not in entry


def _amendments(entries: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(entries, list):
        return []
    return [(index, entry) for index, entry in enumerate(entries) if is_amendment(entry)]


def amended_bindings(p: Problems, entries: Any) -> dict[str, dict[str, Any]]:
    """``{operation: {argument: context key}}`` from the amending entries' ``from_context``, given to
    each imported operation as its endpoint-level ``from_context`` (and checked there)."""
    bindings: dict[str, dict[str, Any]] = {}
    for index, entry in _amendments(entries):
        mapping, name = entry.get("from_context"), entry.get("name")
        if mapping is None or not isinstance(name, str):
            continue
        if not isinstance(mapping, dict):
            p.add(f"endpoints[{index}].from_context", "must be a mapping of argument name to context key")
            continue
        bindings[name] = dict(mapping)
    return bindings


def amend_imported(
    p: Problems, endpoints: tuple[Endpoint, ...], entries: Any, imported: set[str]
) -> tuple[Endpoint, ...]:
    """``endpoints`` with each amending entry of ``entries`` applied to the imported operation of
    its name (``imported``: the names the spec gave)."""
    by_name = {endpoint.name: endpoint for endpoint in endpoints}
    for index, entry in _amendments(entries):
        where = f"endpoints[{index}]"
        for key in entry:
            if key not in AMENDING_KEYS:
                p.add(
                    f"{where}.{str(key)[:64]}",
                    "unknown field: an entry without method and path amends an imported operation, and may "
                    f"set only {', '.join(sorted(AMENDING_KEYS))} (give method and path to replace the operation)",
                )
        name = entry.get("name")
        if not isinstance(name, str) or name not in imported or name not in by_name:
            p.add(
                f"{where}.name",
                f"{shown(name)} is not an imported operation (an entry without method and path amends one; "
                "check its name, include/exclude, and whether the import skipped it)",
            )
            continue
        endpoint = by_name[name]
        by_name[name] = dataclasses.replace(
            endpoint,
            result=parse_result(p, f"{where}.result", entry.get("result")),
            cache=parse_cache(p, f"{where}.cache", entry.get("cache"), endpoint.method),
        )
    return tuple(by_name.values())
