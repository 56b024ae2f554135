"""Schema regular expressions (``pattern``, ``patternProperties``), run in linear time by RE2.

A schema's pattern is written by an API-definition author and runs on values an LLM wrote.
Python's ``re`` backtracks: ``^(a+)+$`` against ``"a" * 40 + "!"`` takes minutes, holding the
event loop (and the GIL, so every thread) the whole time. RE2 (``google-re2``) answers in time
linear in the input, always; both validator libraries are given its patterns (``_libraries``).

Semantics: JSON Schema patterns are ECMA-262 regular expressions, searched for (not matched
whole: anchor with ``^...$``). RE2 is closer to ECMA-262 than ``re`` for ``\\d`` and ``\\w``
(ASCII only) and for ``$`` (the end of the text, where ``re`` also matches before a final
newline). ``\\uXXXX`` and ``\\u{X...}`` are rewritten as RE2's ``\\x{X...}``. Differences that
remain: RE2's ``\\s`` is ASCII whitespace only (ECMA-262 adds the Unicode spaces), ``.`` also
matches ``\\r``, ``\\u2028`` and ``\\u2029``, and long Unicode property names (``\\p{Letter}``)
are not known (``\\p{L}`` is).

What RE2 cannot run (lookaround, backreferences, possessive quantifiers, ``\\cX``, ...) is
accepted and not enforced: the schema keeps working without it, and ``enforce_patterns`` says
where, so the registry logs a WARNING naming the API, operation and field. A pattern that is
no regular expression at all (neither RE2 nor ``re`` compiles it) is a schema error, as before.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .keywords import DEFINITIONS, SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED

if TYPE_CHECKING:
    import re2

_U_BRACED = re.compile(r"\\u\{([0-9A-Fa-f]{1,6})\}")
_U_FOUR = re.compile(r"\\u([0-9A-Fa-f]{4})")


class PatternError(ValueError):
    """RE2 cannot compile the pattern; the message is RE2's reason."""


class LinearPattern:
    """One compiled pattern; ``search`` says whether it occurs anywhere in a string."""

    __slots__ = ("_regexp", "pattern")

    def __init__(self, pattern: str) -> None:
        import re2  # loaded with the first pattern: a config without patterns never needs it

        self.pattern = pattern
        options = re2.Options()
        options.log_errors = False  # RE2 would print every refused pattern to stderr
        try:
            # Compiled and searched as UTF-8 bytes: the same matches as on str, without the
            # binding's work of mapping match offsets back to str positions (~1.4 us a search
            # instead of ~4 us, measured).
            self._regexp = re2.compile(ecma_to_re2(pattern).encode("utf-8", "surrogatepass"), options)
        except re2.error as exc:
            raise PatternError(_reason(exc)) from None

    def search(self, text: str) -> bool:
        return self._regexp.search(text.encode("utf-8", "surrogatepass")) is not None


@functools.lru_cache(maxsize=16384)
def compile_pattern(pattern: str) -> LinearPattern:
    """The pattern compiled once per process; PatternError if RE2 cannot run it."""
    return LinearPattern(pattern)


def linear_or_none(pattern: str) -> LinearPattern | None:
    """The compiled pattern, or None for one RE2 cannot run (not enforced)."""
    try:
        return compile_pattern(pattern)
    except PatternError:
        return None


def ecma_to_re2(pattern: str) -> str:
    """ECMA-262's ``\\uXXXX`` (a surrogate pair joined) and ``\\u{X...}`` as RE2's ``\\x{X...}``."""
    if "\\u" not in pattern:
        return pattern
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        braced = _U_BRACED.match(pattern, index)
        four = _U_FOUR.match(pattern, index)
        if braced:
            out.append(f"\\x{{{braced.group(1)}}}")
            index = braced.end()
        elif four:
            code, index = int(four.group(1), 16), four.end()
            low = _U_FOUR.match(pattern, index)
            if 0xD800 <= code < 0xDC00 and low and 0xDC00 <= int(low.group(1), 16) < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
                index = low.end()
            out.append(f"\\x{{{code:X}}}")
        else:  # any other escape, kept whole (so "\\\\u0041" stays a backslash and "u0041")
            out.append(pattern[index : index + 2])
            index += 2
    return "".join(out)


def is_regular_expression(pattern: str) -> bool:
    """For the meta-schema's ``format: regex``: RE2 runs it, or it is at least a regular expression."""
    return linear_or_none(pattern) is not None or _python_compiles(pattern)


# --- at load: what the validators will not enforce ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unenforced:
    """A part of a schema that is accepted but not checked, and why."""

    where: str  # a JSON pointer into the schema, e.g. "/properties/q/pattern"
    what: str  # "pattern '(?=a)b'"
    reason: str

    def __str__(self) -> str:
        return f"{self.what} at {self.where or '/'} is not enforced: {self.reason}"


class InvalidPattern(ValueError):
    """A pattern neither RE2 nor Python's ``re`` compiles: not a regular expression."""

    def __init__(self, where: str, pattern: str, reason: str) -> None:
        super().__init__(f"{_shown(pattern)} is not a regular expression ({reason})")
        self.where = where


def enforce_patterns(schema: Any) -> tuple[Any, tuple[Unenforced, ...]]:
    """``schema`` without what RE2 cannot run (a new document; the input is not modified), and
    what was left out. Leaving a check out only ever accepts more:

    - a ``pattern`` RE2 cannot run is dropped;
    - so is such a ``patternProperties`` entry, and with it its object's ``additionalProperties``
      (which properties are "additional" depends on what the pattern matches);
    - ``unevaluatedProperties`` is dropped from a document that has ``patternProperties``: jsonschema
      would evaluate those patterns with Python's ``re`` there (no keyword to give RE2 to).

    InvalidPattern for a pattern that is not a regular expression at all."""
    return enforce_part(schema, "", has_keyword(schema, "patternProperties"))


def enforce_part(node: Any, where: str, strip_unevaluated: bool) -> tuple[Any, tuple[Unenforced, ...]]:
    """``enforce_patterns`` for one part of a document: its body, or the definition at ``where``
    (``/$defs/Name``). ``strip_unevaluated``: whether the whole document has ``patternProperties``."""
    found: list[Unenforced] = []
    return _walk(node, where, found, strip_unevaluated), tuple(found)


def _walk(node: Any, where: str, found: list[Unenforced], strip_unevaluated: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    loose_additional = False
    for key, value in node.items():
        here = f"{where}/{_escape(key)}"
        if key == "pattern" and isinstance(value, str):
            reason = _unenforceable(value, here)
            if reason is None:
                out[key] = value
            else:
                found.append(Unenforced(here, f"pattern {_shown(value)}", reason))
        elif key == "patternProperties" and isinstance(value, dict):
            kept: dict[str, Any] = {}
            for pattern, sub in value.items():
                reason = _unenforceable(pattern, f"{here}/{_escape(pattern)}")
                if reason is None:
                    kept[pattern] = _walk(sub, f"{here}/{_escape(pattern)}", found, strip_unevaluated)
                else:
                    loose_additional = True
                    found.append(Unenforced(here, f"patternProperties {_shown(pattern)}", reason))
            out[key] = kept
        elif key == "unevaluatedProperties" and strip_unevaluated:
            found.append(
                Unenforced(
                    here,
                    "unevaluatedProperties",
                    "the document also has patternProperties, which jsonschema would run with Python's re there",
                )
            )
        elif key in SCHEMA_MAP_VALUED or key in DEFINITIONS:
            out[key] = (
                {name: _walk(sub, f"{here}/{_escape(name)}", found, strip_unevaluated) for name, sub in value.items()}
                if isinstance(value, dict)
                else value
            )
        elif key in SCHEMA_LIST_VALUED or (key in SCHEMA_VALUED and isinstance(value, list)):
            out[key] = (
                [_walk(sub, f"{here}/{i}", found, strip_unevaluated) for i, sub in enumerate(value)]
                if isinstance(value, list)
                else value
            )
        elif key in SCHEMA_VALUED:
            out[key] = _walk(value, here, found, strip_unevaluated)
        else:
            out[key] = value
    if loose_additional and "additionalProperties" in out:
        del out["additionalProperties"]
        found.append(
            Unenforced(
                f"{where}/additionalProperties",
                "additionalProperties",
                "it depends on a patternProperties entry that is not enforced",
            )
        )
    return out


def _unenforceable(pattern: str, where: str) -> str | None:
    """None when RE2 runs ``pattern``; else RE2's reason. InvalidPattern when nothing compiles it."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        if not _python_compiles(pattern):
            raise InvalidPattern(where, pattern, str(exc)) from None
        return f"the linear-time regex engine (RE2) cannot run it: {exc}"
    return None


def _python_compiles(pattern: str) -> bool:
    # Compiling only: what runs in time exponential in the input is matching, never done with re here.
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def has_keyword(node: Any, keyword: str) -> bool:
    """Whether ``keyword`` is a key anywhere in the document (data keywords aside)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if keyword in current:
                return True
            stack.extend(v for k, v in current.items() if k not in ("enum", "const", "default", "examples"))
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _reason(exc: re2.error) -> str:
    message = exc.args[0] if exc.args else exc
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return text[:200]


def _shown(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 100 else pattern[:100] + "...")


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")  # str(): YAML keys may be numbers or dates
