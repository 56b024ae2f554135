"""A schema checked and built once, at load; a fast verdict once compiled; an explanation on failure.

Two libraries, each for what it is best at (numbers in the README):
- ``jsonschema`` builds a validator in microseconds, so every schema is usable
  the moment the config loads, and it names the most relevant failing field
  with a message a person (or an LLM) can act on;
- ``fastjsonschema`` generates Python code for a schema, which checks a valid
  instance about ten times faster, but generating it takes milliseconds per
  schema (seconds for a large spec). ``compile()`` does that once per distinct
  schema, off the hot path (``ValidatorWarmup`` runs it in the background after
  start); from then on the generated code gives the verdict, and ``jsonschema``
  only looks again when the verdict is "invalid".
Both see the same converted schema and the same format checks, so they agree, and both
search schema patterns with RE2, in time linear in the input (``_patterns``, ``_libraries``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._formats import STRING_FORMATS
from ._libraries import compile_fast, fast_meta_check, linear_validator_class, meta_format_checker
from ._openapi import Direction
from ._patterns import InvalidPattern
from ._shared import NotJson, Part, Prepared, SchemaCache

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

# jsonschema and fastjsonschema (about 3 MB) are imported with the first schema, not before:
# a config without schemas never needs them.


def _for_strings(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # A format says nothing about other types (a wrong type is the "type" keyword's failure).
    return lambda value: not isinstance(value, str) or check(value)


@functools.cache
def _format_checker() -> FormatChecker:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, is_valid in STRING_FORMATS.items():
        checker.checks(name)(_for_strings(is_valid))
    return checker


@dataclass(frozen=True, slots=True)
class Violation:
    """Why an instance does not match its schema, and where."""

    path: str  # "body.customer.email", "limit", "response.results[3].id"
    keyword: str  # the failing JSON Schema keyword: "format", "maximum", "required", ...
    message: str  # may quote the offending value: only for the caller's own arguments
    summary: str  # the same without any value from the instance: safe for logs and responses

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaError(ValueError):
    """The schema itself is unusable (reported as a config problem, at load)."""


class SchemaValidator:
    def __init__(self, schema: Any, direction: Direction, root: str, cache: SchemaCache | None = None) -> None:
        """SchemaError if the schema is unusable. What RE2 cannot run is left out, listed in ``unenforced``.
        Validators built with one ``cache`` share the work and memory of the definitions they share."""
        try:
            prepared = (cache or SchemaCache()).prepare(schema, direction)
        except InvalidPattern as exc:
            raise SchemaError(f"not a valid JSON Schema at {exc.where.lstrip('/')}: {exc}") from None
        except NotJson as exc:
            raise SchemaError(str(exc)) from None
        self.schema, self.unenforced = prepared.schema, prepared.unenforced
        self._root = root
        self._key = prepared.key
        self._size = prepared.size
        self._newer_keywords = prepared.newer_keywords
        _check(prepared)
        self._explainer = _explainer(_Keyed(prepared.key, prepared.schema))
        self._verdict: Callable[[Any], Any] | None = None

    @property
    def size(self) -> int:
        """Characters of the schema's JSON."""
        return self._size

    @property
    def key(self) -> str:
        """Equal for validators of equal schemas (which share their explainer and compiled code)."""
        return self._key

    @property
    def compiled(self) -> bool:
        """True once the fast verdict code is in use."""
        return self._verdict is not None

    def compile(self) -> None:
        """Generate the fast verdict code (milliseconds; shared by every validator of the same schema).

        A schema using keywords newer than draft 7 (OpenAPI 3.1 may) stays on ``jsonschema``:
        the generated code would ignore them, and the verdict must not change after warm-up."""
        if self._verdict is None and not self._newer_keywords:
            self._verdict = _fast(_Keyed(self._key, self.schema))

    def violation(self, instance: Any) -> Violation | None:
        """None when ``instance`` is valid, else the most relevant violation."""
        verdict = self._verdict
        if verdict is None:
            error = _best_match(self._explainer.iter_errors(instance))
            return None if error is None else self._violation(error)
        try:
            verdict(instance)
        except _fastjsonschema().JsonSchemaValueException as exc:  # evaluated only when something is raised
            error = _best_match(self._explainer.iter_errors(instance))
            if error is not None:
                return self._violation(error)
            # The libraries disagree on an edge case: trust the verdict, say what it saw.
            keyword = exc.rule or "schema"
            path = _path(self._root, (exc.path or ["data"])[1:])
            return Violation(path, keyword, f"fails {keyword!r}", f"fails {keyword!r}")
        return None

    def _violation(self, error: ValidationError) -> Violation:
        summary = _summary(error)
        # jsonschema's messages quote the value: past a few lines (a 200 KB argument), the summary instead.
        message = error.message if len(error.message) <= _MAX_MESSAGE else summary
        return Violation(_path(self._root, error.absolute_path), str(error.validator), message, summary)


class _Keyed:
    """A prepared schema as a cache key: equal when the digests are (the schemas then are too)."""

    __slots__ = ("key", "schema")

    def __init__(self, key: str, schema: Any) -> None:
        self.key, self.schema = key, schema

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and other.key == self.key


_MAX_MESSAGE = 500
_MAX_PATH_PART = 100  # an object key in a path comes from the instance too


@functools.cache
def _fastjsonschema() -> Any:
    import fastjsonschema

    return fastjsonschema


def _best_match(errors: Iterable[ValidationError]) -> ValidationError | None:
    from jsonschema.exceptions import best_match

    return best_match(errors)


@functools.lru_cache(maxsize=4096)
def _explainer(keyed: _Keyed) -> Validator:
    return linear_validator_class()(keyed.schema, format_checker=_format_checker())


@functools.lru_cache(maxsize=4096)
def _fast(keyed: _Keyed) -> Callable[[Any], Any]:
    return compile_fast(keyed.schema, STRING_FORMATS)


def _check(prepared: Prepared) -> None:
    """What would otherwise fail at call time: malformed keywords, broken references.
    (Patterns were checked by ``enforce_patterns``.)

    The body and each definition are checked on their own against the draft-7 meta-schema (the
    2020-12 one is far slower and adds nothing here), once per part: specs share definitions
    across operations, and a prepared definition remembers it was checked."""
    for part in prepared.parts:
        if not part.checked:
            if isinstance(part.schema, dict):
                _check_part(_Keyed(part.digest, part.schema))
            part.checked = True
    schema = prepared.schema
    if not isinstance(schema, dict):
        return
    for part in prepared.parts:
        for value in _references(part):
            if _resolve(schema, value) is None:
                raise SchemaError(f"$ref {value!r} does not resolve (only local '#/$defs/...' references are allowed)")


def _references(part: Part) -> tuple[str, ...]:
    if part.references is None:
        found = (v for k, v in _keywords(part.schema) if k == "$ref" and isinstance(v, str))
        part.references = tuple(dict.fromkeys(found))
    return part.references


@functools.lru_cache(maxsize=8192)
def _check_part(keyed: _Keyed) -> None:
    """SchemaError naming the first problem. A part that is fine (the usual case) is passed by the
    meta-schema compiled with fastjsonschema (about 15 times faster); jsonschema looks at a part
    that one refuses, for the message, and its verdict is the one that counts."""
    part = keyed.schema
    try:
        fast_meta_check()(part)
        return
    except _fastjsonschema().JsonSchemaValueException:
        pass
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError as MetaSchemaError

    try:
        Draft7Validator.check_schema(part, format_checker=meta_format_checker())
    except MetaSchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise SchemaError(f"not a valid JSON Schema at {where}: {exc.message[:200]}") from None


def _keywords(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (keyword, value) pair in a schema document, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                yield key, value
                if key not in ("enum", "const", "default", "examples"):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    target: Any = root
    for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else ():
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            return None
    return target


def _path(root: str, parts: Iterable[Any]) -> str:
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part) if len(str(part)) <= _MAX_PATH_PART else f"{str(part)[:_MAX_PATH_PART]}..."
            out = f"{out}.{name}" if out else name
    return out or "(value)"


def _summary(error: ValidationError) -> str:
    """The failure in terms of the schema only: the instance's values stay out."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        return f"expected type {expected if isinstance(expected, str) else ' or '.join(expected)}"
    if keyword in ("required", "dependentRequired"):
        return error.message  # "'id' is a required property": the name comes from the schema
    if keyword == "format":
        return f"is not a valid {expected!r}"
    if keyword in ("enum", "const"):
        return "is not one of the allowed values"
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return "has properties the schema does not allow"
    if keyword in ("anyOf", "oneOf"):
        return f"matches none of the alternatives ({keyword})"
    if isinstance(expected, (int, float, str)) and not isinstance(expected, bool) and len(str(expected)) <= 80:
        return f"violates {keyword} {expected}"
    return f"violates {keyword}"
