"""``result:`` on an endpoint (an imported operation takes it through ``_amend``).

``result: {select: "<JMESPath>", max_chars: 4000}``: both optional (``max_chars`` defaults to
4,000). The expression is parsed here, so a bad one is a load error naming the field and the parse
problem, never a surprise at the first call; its length, syntax tree and function calls are bounded
(custom_api_sidecar.shaping).
"""

from __future__ import annotations

from typing import Any

from .._text import shown
from ..config._model import DEFAULT_RESULT_CHARS, MAX_RESULT_CHARS, ResultSettings
from ..config._problems import Problems

__all__ = ["parse_result"]

RESULT_KEYS = {
    "select": "A JMESPath expression applied to a 2xx JSON body (parsed at load: a bad one is a load error).",
    "max_chars": "At most this many characters for the LLM (1 to 100000), cut with an explicit marker.",
}


def parse_result(p: Problems, field: str, raw: Any) -> ResultSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add(field, f"must be a mapping with select and/or max_chars, not {type(raw).__name__}")
        return None
    for key in raw:
        if key not in RESULT_KEYS:
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
