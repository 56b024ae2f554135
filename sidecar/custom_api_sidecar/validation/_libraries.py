"""jsonschema and fastjsonschema, given RE2 for every schema regular expression (``_patterns``).

Neither library takes a regex engine as a setting, so:

- **jsonschema**: the validator class is extended with the keywords that run schema patterns
  (``pattern``, ``patternProperties``, and ``additionalProperties``, which tests names against
  the ``patternProperties`` patterns), each searching with RE2. jsonschema's fourth such place,
  ``unevaluatedProperties`` next to ``patternProperties``, is left out of schemas at load
  (``enforce_patterns``). The meta-schema check's ``format: regex`` accepts what RE2 runs.
- **fastjsonschema** generates code that looks its patterns up in the ``REGEX_PATTERNS`` table
  of the generated function's globals. It is handed the schema with each pattern replaced by a
  placeholder name (so it compiles nothing from the schema with ``re``), and the table is then
  filled with the RE2 patterns under those names. If anything else reached the table, the fast
  path is refused and the schema stays on jsonschema. Every format name fastjsonschema would
  check with its own regular expressions (or by compiling the value as one: ``regex``) is given
  a check that accepts all, so only the sidecar's formats (``_formats``) are checked, as in
  jsonschema.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ._patterns import compile_pattern, is_regular_expression, linear_or_none
from .keywords import DEFINITIONS, SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

_PLACEHOLDER = "re2-pattern-{}"


# --- jsonschema ---------------------------------------------------------------------------------------


@functools.cache
def linear_validator_class() -> type[Validator]:
    """Draft 2020-12 with RE2 in every keyword that runs a schema pattern."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )


@functools.cache
def meta_format_checker() -> FormatChecker:
    """jsonschema's format checks for checking a schema itself, with ``regex`` meaning "RE2 runs it,
    or it is a regular expression" (``\\p{L}`` is ECMA-262 and RE2 but not ``re``)."""
    from jsonschema import FormatChecker

    checker = FormatChecker()
    checker.checks("regex")(lambda value: not isinstance(value, str) or is_regular_expression(value))
    return checker


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string"):
        compiled = linear_or_none(pattern)
        if compiled is not None and not compiled.search(instance):
            from jsonschema.exceptions import ValidationError

            yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        compiled = linear_or_none(pattern)
        if compiled is None:
            continue
        for name, value in instance.items():
            if compiled.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    if "patternProperties" not in schema:  # no pattern involved: jsonschema's own keyword
        yield from Draft202012Validator.VALIDATORS["additionalProperties"](validator, additional, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    compiled = [p for p in map(linear_or_none, schema["patternProperties"]) if p is not None]
    extras = [
        name for name in instance if name not in properties and not any(pattern.search(name) for pattern in compiled)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        verb = "does" if len(extras) == 1 else "do"
        joined = ", ".join(repr(extra) for extra in sorted(extras))
        patterns = ", ".join(repr(pattern) for pattern in sorted(schema["patternProperties"]))
        yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")


# --- fastjsonschema -------------------------------------------------------------------------------------


@functools.cache
def fast_meta_check() -> Callable[[Any], Any]:
    """The draft-7 meta-schema as fastjsonschema code, with the formats ``meta_format_checker``
    checks: ``regex`` as there, and no other (jsonschema checks none of the meta-schema's other
    formats, ``uri`` and ``uri-reference``, without optional packages)."""
    import fastjsonschema
    from fastjsonschema.draft07 import CodeGeneratorDraft07
    from jsonschema import Draft7Validator

    formats: dict[str, Callable[[str], bool]] = {name: _any_value for name in CodeGeneratorDraft07.FORMAT_REGEXS}
    formats["regex"] = is_regular_expression
    # use_default=False: the generated code would otherwise fill the checked schema in with defaults
    return fastjsonschema.compile(Draft7Validator.META_SCHEMA, formats=formats, use_default=False)


def compile_fast(schema: Any, formats: Mapping[str, Callable[[str], bool]]) -> Callable[[Any], Any]:
    """fastjsonschema's generated validator for ``schema``, searching its patterns with RE2.
    ValueError if the generated code would run any other regular expression."""
    import fastjsonschema
    from fastjsonschema.draft2019 import CodeGeneratorDraft2019

    _refuse_shared_function_names(schema)
    names: dict[str, str] = {}  # pattern -> placeholder
    swapped = _with_placeholders(schema, names)
    accept_all = {name: _any_value for name in (*CodeGeneratorDraft2019.FORMAT_REGEXS, "regex")}
    validate = fastjsonschema.compile(swapped, formats={**accept_all, **formats}, use_default=False)
    # With formats, compile() returns a functools.partial wrapping (update_wrapper) the generated function.
    table = inspect.unwrap(validate).__globals__.get("REGEX_PATTERNS", {})
    by_name = {name: pattern for pattern, name in names.items()}
    if not set(table) <= set(by_name):
        raise ValueError("the generated code would run a regular expression that is not a schema pattern")
    for name in table:
        table[name] = compile_pattern(by_name[name])
    return validate


def _refuse_shared_function_names(schema: Any) -> None:
    """fastjsonschema names the function it generates for a ``$ref`` after the reference, lower-cased,
    every other character made ``_`` and trailing ones dropped (``get_scope_name``): ``#/$defs/Pet``
    and ``#/$defs/pet`` (or ``a`` and ``a_``) would share one function, and values meant for one def
    would be checked against the other. ValueError for such a schema (it stays on jsonschema)."""
    seen: dict[str, str] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = re.sub(r"[^a-z0-9]", "_", unquote(ref).replace("~1", "_").replace("~0", "_").lower())
                if seen.setdefault(name.rstrip("_"), ref) != ref:
                    raise ValueError("two $refs would share one generated function")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _any_value(value: str) -> bool:
    return True


def _with_placeholders(node: Any, names: dict[str, str]) -> Any:
    """A copy of a schema with each ``pattern`` and ``patternProperties`` key replaced by its placeholder."""
    if not isinstance(node, dict):
        return node

    def placeholder(pattern: str) -> str:
        return names.setdefault(pattern, _PLACEHOLDER.format(len(names)))

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = placeholder(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {placeholder(p): _with_placeholders(sub, names) for p, sub in value.items()}
        elif (key in SCHEMA_MAP_VALUED or key in DEFINITIONS) and isinstance(value, dict):
            out[key] = {name: _with_placeholders(sub, names) for name, sub in value.items()}
        elif (key in SCHEMA_LIST_VALUED or key in SCHEMA_VALUED) and isinstance(value, list):
            out[key] = [_with_placeholders(sub, names) for sub in value]
        elif key in SCHEMA_VALUED:
            out[key] = _with_placeholders(value, names)
        else:
            out[key] = value
    return out
