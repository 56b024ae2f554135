"""``result:`` on an endpoint, and endpoint entries that amend an imported OpenAPI operation.

``result: {select: "<JMESPath>", max_chars: 4000}``: both optional (``max_chars`` defaults to
4,000). The expression is parsed here, so a bad one is a load error naming the field and the parse
problem, never a surprise at the first call; its length, syntax tree and function calls are bounded
(custom_api_sidecar.shaping).

Under ``openapi:``, an ``endpoints:`` entry with neither ``method`` nor ``path`` amends the imported
operation of its name instead of replacing it: only the keys in ``AMENDING_KEYS`` may be given, so a
spec's operations take per-operation settings without being written out again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._text import shown
from ..config._model import DEFAULT_RESULT_CHARS, MAX_RESULT_CHARS, Endpoint, ResultSettings
from ..config._problems import Problems

__all__ = ["AMENDING_KEYS", "amend_imported", "is_amendment", "parse_result"]

_RESULT_KEYS = {"select", "max_chars"}
AMENDING_KEYS = {"name", "result"}


def parse_result(p: Problems, field: str, raw: Any) -> ResultSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add(field, f"must be a mapping with select and/or max_chars, not {type(raw).__name__}")
        return None
    for key in raw:
        if key not in _RESULT_KEYS:
            p.add(f"{field}.{str(key)[:64]}", "unknown field; allowed: max_chars, select")
    max_chars = raw.get("max_chars", DEFAULT_RESULT_CHARS)
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or not 1 <= max_chars <= MAX_RESULT_CHARS:
        p.add(f"{field}.max_chars", f"must be an integer from 1 to {MAX_RESULT_CHARS:,}, not {shown(max_chars)}")
        max_chars = DEFAULT_RESULT_CHARS
    select = raw.get("select")
    if select is not None:
        if not isinstance(select, str):
            p.add(f"{field}.select", f"must be a JMESPath expression (a string), not {shown(select)}")
            select = None
        else:
            from ..shaping import SelectError, compile_select  # only configs with a select load jmespath

            try:
                compile_select(select)
            except SelectError as exc:
                p.add(f"{field}.select", f"{shown(select)} {exc}")
                select = None
    return ResultSettings(select=select, max_chars=max_chars)


def is_amendment(entry: Any) -> bool:
    return isinstance(entry, dict) and "method" not in entry and "path" not in entry


def amend_imported(
    p: Problems, endpoints: tuple[Endpoint, ...], entries: list[Any], imported: set[str]
) -> tuple[Endpoint, ...]:
    """``endpoints`` with each amending entry of ``entries`` applied to the imported operation of
    its name (``imported``: the names the spec gave)."""
    by_name = {endpoint.name: endpoint for endpoint in endpoints}
    for index, entry in enumerate(entries):
        if not is_amendment(entry):
            continue
        where = f"endpoints[{index}]"
        for key in entry:
            if key not in AMENDING_KEYS:
                p.add(
                    f"{where}.{str(key)[:64]}",
                    "unknown field: an entry without method and path amends an imported operation, and may "
                    f"set only {', '.join(sorted(AMENDING_KEYS))} (give method and path to replace the operation)",
                )
        name = entry.get("name")
        if not isinstance(name, str) or name not in imported:
            p.add(
                f"{where}.name",
                f"{shown(name)} is not an imported operation (an entry without method and path amends one)",
            )
            continue
        result = parse_result(p, f"{where}.result", entry.get("result"))
        by_name[name] = dataclasses.replace(by_name[name], result=result)
    return tuple(by_name.values())
