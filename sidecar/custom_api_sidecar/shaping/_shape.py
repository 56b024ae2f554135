"""The text an LLM reads for one response of an operation with ``result:``: a pure function of the
body, its headers and status, and the operation's settings.

- A 2xx JSON body with ``select``: the JMESPath value, as JSON text (``ensure_ascii`` off: names
  stay readable), cut at ``max_chars``.
- Any other text body (an error status, a non-JSON type, no ``select``, JSON that does not parse):
  its text, cut at ``max_chars``. A 4xx/5xx is never selected from: its error message is what the
  model needs, and a select written for the success shape would turn it into ``null``.
- A select that fails at run time (a type error, or more than its budget of steps): a one-line note
  saying so, then the body's text cut at ``max_chars``. The call itself has happened and succeeded;
  only its presentation is degraded.
- An empty or binary body: None (nothing to shape: the agent sees it as without ``result:``).

Text is cut with ``custom_api_client._llm_text.truncated``'s marker, ``…[truncated 12,345 characters]``.
A selected value is serialized by the C encoder when its size is known to be bounded, else streamed
and stopped at ``max_chars`` (its full size is then not computed, and the marker says
``…[truncated; more than 2,000,000 characters in all]``): a value that shares one sub-document many times never costs
more than ``MAX_RENDER_WEIGHT`` to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jmespath.exceptions import JMESPathError

from custom_api_client._llm_text import body_text, content_type, is_json, truncated

from ._select import SelectTooCostly, compile_select, run_select, weigh

__all__ = ["MAX_RENDER_WEIGHT", "ResultShaper", "Shaped"]

MAX_RENDER_WEIGHT = 2_000_000  # a selected value's tree size (values + characters) the C encoder may write


@dataclass(frozen=True, slots=True)
class Shaped:
    text: str
    problem: str = ""  # why the select was not applied ("" when it was, or was not asked for)


class ResultShaper:
    """One operation's ``result:`` settings, compiled (at load: the loader has checked them)."""

    __slots__ = ("_parsed", "expression", "max_chars")

    def __init__(self, select: str | None, max_chars: int) -> None:
        self.expression = select
        self.max_chars = max_chars
        self._parsed = compile_select(select) if select is not None else None

    def shape(self, status_code: int, headers: Iterable[tuple[str, str]], body: bytes) -> Shaped | None:
        if not body:
            return None
        media, charset = content_type(headers)
        text = body_text(body, media, charset)
        if text is None:
            return None
        if self._parsed is None or not 200 <= status_code < 300 or not is_json(media):
            return Shaped(truncated(text, self.max_chars))
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # mislabelled, or nested past the decoder's limit
            return Shaped(truncated(text, self.max_chars))
        try:
            value = run_select(self._parsed, document)
            return Shaped(render(value, self.max_chars))
        except (SelectTooCostly, JMESPathError, RecursionError) as exc:
            problem = _problem(exc)
        note = f"[result.select was not applied: {problem}; the body follows, unshaped]"
        return Shaped(f"{note}\n{truncated(text, self.max_chars)}", problem)


def render(value: Any, max_chars: int) -> str:
    """``value`` as JSON text, at most ``max_chars`` characters before the truncation marker."""
    if weigh(value, MAX_RENDER_WEIGHT) is not None:
        return truncated(json.dumps(value, ensure_ascii=False), max_chars)
    chunks: list[str] = []
    length = 0
    for chunk in json.JSONEncoder(ensure_ascii=False).iterencode(value):
        chunks.append(chunk)
        length += len(chunk)
        if length > max_chars:
            break
    text = "".join(chunks)
    if len(text) <= max_chars:  # cannot happen for a value over the weight limit; kept exact anyway
        return text
    return f"{text[:max_chars]}…[truncated; more than {MAX_RENDER_WEIGHT:,} characters in all]"


def _problem(exc: Exception) -> str:
    if isinstance(exc, SelectTooCostly):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "the document nests too deeply"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first if len(first) <= 200 else f"{first[:200]}..."
