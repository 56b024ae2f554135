"""A JMESPath select with bounded cost: compiled at load, run against untrusted bodies.

Both sides are untrusted: the expression comes from an API definition (hot-reloaded, written by a
customer) and the document from an upstream. JMESPath itself has no limits, and a short expression
can multiply: ``[@,@][] | [@,@][] | ...`` doubles a list per step, ``[@,@] | [@,@] | ...`` builds a
structure whose serialized size, and whose deep comparison (``==``, ``contains``), doubles per step.
So:

- at load, the expression's length and its syntax tree's size and depth are bounded (the parser
  and the evaluation recurse along the tree);
- at each call, the evaluation spends from a budget of steps: one per node visited, plus the size
  of what an operation copies or walks (a flatten's output, a slice, a function's arguments, the
  whole tree size of what ``to_string``, ``contains``, ``join``, ``==`` and ``!=`` walk, the
  characters of compared strings, times log n for a sort), charged *before* the work is done (a
  sort key as it is computed). Every list, string or walk it makes is therefore bounded by the
  budget, and the time by a constant times it. Exhausting it raises :class:`SelectTooCostly`.

Tree sizes are counted per reference (:func:`weigh`), so a structure that shares one sub-document
many times weighs what serializing it would cost, not what it holds in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import Options, TreeInterpreter

__all__ = [
    "MAX_SELECT_CHARS",
    "MAX_SELECT_DEPTH",
    "MAX_SELECT_NODES",
    "MAX_SELECT_STEPS",
    "SelectError",
    "SelectTooCostly",
    "compile_select",
    "run_select",
    "weigh",
]

MAX_SELECT_CHARS = 1_000  # an expression's length
MAX_SELECT_NODES = 200  # nodes in its syntax tree
MAX_SELECT_DEPTH = 32  # nesting of its syntax tree (the interpreter recurses along it)
MAX_SELECT_STEPS = 1_000_000  # work per call: about 0.1-0.5 s of CPU at worst (bench.shaping_overhead)


class SelectError(ValueError):
    """An expression that cannot be used: a syntax error, or one over the bounds."""


class SelectTooCostly(RuntimeError):
    """The evaluation needed more than its budget of steps."""


def compile_select(expression: str) -> Any:
    """The parsed expression (``jmespath.parser.ParsedResult``); SelectError naming the problem,
    in bounded text, for a bad or oversized one."""
    if len(expression) > MAX_SELECT_CHARS:
        raise SelectError(f"is {len(expression):,} characters; at most {MAX_SELECT_CHARS:,}")
    if not expression.strip():
        raise SelectError("is empty")
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as exc:
        raise SelectError(f"is not a JMESPath expression: {_parse_problem(exc)}") from None
    except RecursionError:
        raise SelectError(f"nests deeper than {MAX_SELECT_DEPTH} levels") from None
    nodes, depth, calls = _tree_size(parsed.parsed)
    for name, count in calls:
        _check_call(name, count)
    if nodes > MAX_SELECT_NODES:
        raise SelectError(f"has {nodes} syntax nodes; at most {MAX_SELECT_NODES}")
    if depth > MAX_SELECT_DEPTH:
        raise SelectError(f"nests {depth} levels deep; at most {MAX_SELECT_DEPTH}")
    return parsed


def run_select(parsed: Any, document: Any, steps: int = MAX_SELECT_STEPS) -> Any:
    """``parsed`` applied to ``document`` within ``steps``; SelectTooCostly past them."""
    budget = _Budget(steps)
    interpreter = _BoundedInterpreter(budget)
    try:
        return interpreter.visit(parsed.parsed, document)
    except RecursionError:  # a deep document compared or serialized by the C code
        raise SelectTooCostly("the document nests too deeply for the expression") from None


def weigh(value: Any, limit: int) -> int | None:
    """The tree size of a JSON value (one per value, plus the characters of its strings and keys),
    counted per reference; None as soon as it passes ``limit``. Iterative: no depth limit, and at
    most about ``limit`` steps."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key in item:
                total += len(key)
            stack.extend(item.values())
        if total > limit:
            return None
    return total


class _Budget:
    __slots__ = ("remaining", "steps")

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.remaining = steps

    def spend(self, amount: int) -> None:
        self.remaining -= amount
        if self.remaining < 0:
            raise SelectTooCostly(f"it needed more than {self.steps:,} steps")

    def spend_tree(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, (list, dict)):
                size = weigh(value, self.remaining)
                self.spend(self.remaining + 1 if size is None else size)


class _BoundedInterpreter(TreeInterpreter):
    def __init__(self, budget: _Budget) -> None:
        super().__init__(Options(custom_functions=_BoundedFunctions(budget)))
        self._budget = budget

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        self._budget.spend(1)
        return super().visit(node, *args, **kwargs)

    def visit_flatten(self, node: Any, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        # the merged list's length, charged before it is made
        self._budget.spend(len(base) + sum(len(item) for item in base if isinstance(item, list)))
        merged: list[Any] = []
        for item in base:
            if isinstance(item, list):
                merged.extend(item)
            else:
                merged.append(item)
        return merged

    def visit_slice(self, node: Any, value: Any) -> Any:
        if isinstance(value, list):
            self._budget.spend(len(value))
        return super().visit_slice(node, value)

    def visit_comparator(self, node: Any, value: Any) -> Any:
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        if isinstance(left, str) and isinstance(right, str):  # compared character by character
            self._budget.spend(min(len(left), len(right)))
        elif node["value"] in ("eq", "ne"):
            self._budget.spend_tree(left, right)  # a deep comparison walks both
        operator = node["value"]
        if operator not in ("eq", "ne") and not (_orderable(left) and _orderable(right)):
            return None  # as the library: ordering is for numbers and strings only
        return self.COMPARATOR_FUNC[operator](left, right)


def _orderable(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


class _BoundedFunctions(functions.Functions):
    """JMESPath's functions, charging their arguments' size first (a copy, a sort, a scan), and
    the whole tree for those that walk it."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._key_factor = 1  # how often each sort key is compared (sort_by: log n; min_by, max_by: once)

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        resolved_args = list(resolved_args)
        for arg in resolved_args:
            if isinstance(arg, (list, dict, str)):
                self._budget.spend(len(arg))
            if isinstance(arg, list):  # sorting or scanning strings compares their characters
                self._budget.spend(sum(len(item) for item in arg if isinstance(item, str)))
        return super().call_function(function_name, resolved_args)

    @functions.signature({"types": ["array-string", "array-number"]})
    def _func_sort(self, arg: Any) -> Any:
        # n log n comparisons of strings: call_function charged their characters once
        self._budget.spend(sum(len(item) for item in arg if isinstance(item, str)) * len(arg).bit_length())
        return super()._func_sort(arg)  # type: ignore[misc]  # not in the stubs

    @functions.signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_sort_by(self, array: Any, expref: Any) -> Any:
        self._key_factor = max(1, len(array).bit_length())  # each key is compared about log n times
        try:
            return super()._func_sort_by(array, expref)  # type: ignore[misc]  # not in the stubs
        finally:
            self._key_factor = 1

    def _create_key_func(self, expref: Any, allowed_types: Any, function_name: str) -> Any:
        keyfunc = super()._create_key_func(expref, allowed_types, function_name)  # type: ignore[misc]
        budget, factor = self._budget, self._key_factor

        def charged(item: Any) -> Any:
            key = keyfunc(item)
            if isinstance(key, str):
                budget.spend(len(key) * factor)
            return key

        return charged

    @functions.signature({"types": ["string"]}, {"types": ["array-string"]})
    def _func_join(self, separator: Any, array: Any) -> Any:
        self._budget.spend(len(separator) * max(0, len(array) - 1))  # the separator is repeated
        return super()._func_join(separator, array)  # type: ignore[misc]  # not in the stubs

    @functions.signature({"types": []})
    def _func_to_string(self, arg: Any) -> Any:
        self._budget.spend_tree(arg)
        return super()._func_to_string(arg)  # type: ignore[misc]  # not in the stubs

    @functions.signature({"types": ["array", "string"]}, {"types": []})
    def _func_contains(self, subject: Any, search: Any) -> Any:
        self._budget.spend_tree(subject, search)
        return super()._func_contains(subject, search)  # type: ignore[misc]  # not in the stubs


def _tree_size(node: Any) -> tuple[int, int, list[tuple[str, int]]]:
    """Nodes, depth and function calls (name, argument count) of a parsed expression (iterative)."""
    nodes = depth = 0
    calls: list[tuple[str, int]] = []
    stack = [(node, 1)]
    while stack:
        item, level = stack.pop()
        nodes += 1
        depth = max(depth, level)
        children = [child for child in item.get("children", ()) if isinstance(child, dict)]
        if item.get("type") == "function_expression":
            calls.append((str(item.get("value")), len(children)))
        stack.extend((child, level + 1) for child in children)
    return nodes, depth, calls


def _check_call(name: str, count: int) -> None:
    """An unknown function or a wrong argument count is found at load, not at the first call."""
    spec = functions.Functions.FUNCTION_TABLE.get(name)
    if spec is None:
        known = ", ".join(sorted(functions.Functions.FUNCTION_TABLE))
        raise SelectError(f"calls an unknown function {name[:64]!r}() (JMESPath has: {known})")
    signature = spec["signature"]
    variadic = bool(signature) and signature[-1].get("variadic", False)
    if count < len(signature) or (count > len(signature) and not variadic):
        wanted = f"at least {len(signature)}" if variadic else str(len(signature))
        raise SelectError(f"calls {name}() with {count} argument{'' if count == 1 else 's'}; it takes {wanted}")


def _parse_problem(exc: Exception) -> str:
    """``Unknown token '$' (at character 2)``: the first line of the library's message (later lines
    quote the expression), and where."""
    text = str(exc).splitlines()[0].removeprefix("Invalid jmespath expression: ").rstrip(": ") if str(exc) else ""
    text = text or type(exc).__name__
    if len(text) > 200:
        text = f"{text[:200]}..."
    position = getattr(exc, "lex_position", None)
    if position is None:
        position = getattr(exc, "lexer_position", None)
    return f"{text} (at character {position})" if isinstance(position, int) else text
