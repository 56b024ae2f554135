"""What linear-time schema patterns cost (not a test): ``python -m bench.schema_patterns``.

A typical request body schema with patterns (an id, a phone number, a country code, a
postcode, and ``patternProperties`` for ``x-`` extension fields), validated in process the
three ways a call can meet it, side by side:
  jsonschema            the path from load until the warm-up compiled the schema
  fastjsonschema        the generated code after the warm-up (a failure is then explained by
                        jsonschema)
each with RE2 (now) and with Python's backtracking ``re`` (before, for reference).
Microseconds per validation of a valid instance and of an invalid one (median of --repeat runs),
then the time to reject ``"a" * n + "!"`` against ``^(a+)+$`` with RE2 and, for small n only,
with Python's ``re``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from custom_api_sidecar.validation import SchemaValidator
from custom_api_sidecar.validation._formats import STRING_FORMATS
from custom_api_sidecar.validation._patterns import compile_pattern
from custom_api_sidecar.validation._validator import _format_checker

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "phone"],
    "properties": {
        "customer_id": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{14}$"},
        "phone": {"type": "string", "pattern": "^\\+[1-9]\\d{1,14}$"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "postcode": {"type": "string", "pattern": "^[A-Z0-9 -]{3,10}$"},
        "email": {"type": "string", "format": "email"},
        "amount": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "note": {"type": "string", "maxLength": 500},
    },
    "patternProperties": {"^x-[a-z-]+$": {"type": "string"}},
}
VALID = {
    "customer_id": "cus_4QFJ7kD2r9pXeZ",
    "phone": "+442079460000",
    "country": "GB",
    "postcode": "SW1A 1AA",
    "email": "ada@example.com",
    "amount": 4200,
    "note": "callback before noon",
    "x-source": "voice",
}
INVALID = {**VALID, "phone": "020 7946 0000"}


def per_call(step: Callable[[], object], calls: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="validations per run (default 5000)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure; the median is shown (default 7)")
    args = parser.parse_args()

    explainer = SchemaValidator(SCHEMA, "request", "body")  # jsonschema until compiled
    compiled = SchemaValidator(SCHEMA, "request", "body")
    compiled.compile()
    assert compiled.compiled and explainer.violation(VALID) is None and compiled.violation(INVALID) is not None
    # Before: the same two libraries with Python's re (a verdict, then jsonschema's explanation).
    before_fast = fastjsonschema.compile(compiled.schema, formats=STRING_FORMATS, use_default=False)
    before_explainer = Draft202012Validator(compiled.schema, format_checker=_format_checker())

    def before_jsonschema(instance: Any) -> object:
        return best_match(before_explainer.iter_errors(instance))

    def before_compiled(instance: Any) -> object:
        try:
            before_fast(instance)
        except fastjsonschema.JsonSchemaValueException:
            return before_jsonschema(instance)
        return None

    ways: dict[str, Callable[[Any], object]] = {
        "jsonschema + re (before)": before_jsonschema,
        "jsonschema + RE2": explainer.violation,
        "fastjsonschema + re (before)": before_compiled,
        "fastjsonschema + RE2": compiled.violation,
    }
    print(f"{'validator':32}{'valid (us)':>14}{'invalid (us)':>14}")
    for name, check in ways.items():
        valid = per_call(lambda check=check: check(VALID), args.calls, args.repeat)
        invalid = per_call(lambda check=check: check(INVALID), max(args.calls // 10, 100), args.repeat)
        print(f"{name:32}{valid:>14.1f}{invalid:>14.1f}")

    print("\nrejecting 'a' * n + '!' against ^(a+)+$ (ms)")
    linear = compile_pattern("^(a+)+$")
    backtracking = re.compile("^(a+)+$")
    for n in (16, 20, 22, 24, 40, 1_000, 1_000_000):
        text = "a" * n + "!"
        started = time.perf_counter()
        assert not linear.search(text)
        re2_ms = (time.perf_counter() - started) * 1e3
        if n <= 24:
            started = time.perf_counter()
            assert not backtracking.search(text)
            re_ms = f"{(time.perf_counter() - started) * 1e3:.1f}"
        else:
            re_ms = "(not run: doubles with each character)"
        print(f"  n={n:<9} RE2 {re2_ms:8.3f}   re {re_ms}")


if __name__ == "__main__":
    main()
