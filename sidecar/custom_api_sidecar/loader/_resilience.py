"""``connection.retry`` and ``connection.circuit_breaker``: every field optional, each checked."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from .._text import shown
from ..config._model import HEADER_NAME, CircuitBreakerPolicy, RetryPolicy
from ..config._problems import Problems

RESILIENCE_CONNECTION_KEYS = {
    "retry": "How retry_attempts are spent: backoff, Retry-After, a retry budget (see below).",
    "circuit_breaker": "Stop calling an upstream that keeps failing (see below).",
}
# The fields of RetryPolicy and CircuitBreakerPolicy are the keys; these are their reference lines.
RETRY_KEYS = {
    "backoff_ms": "Base of the exponential backoff between attempts, with full jitter.",
    "max_backoff_ms": "Longest wait between attempts (at least backoff_ms); a longer Retry-After ends the retries.",
    "budget_ratio": "Retries may be at most this share of the API's calls (0 to 1), so they cannot multiply an outage.",
    "idempotency_key_header": "A POST or PATCH carrying this header may be retried after a 502/503/504 ('' turns "
    "it off).",
}
CIRCUIT_BREAKER_KEYS = {
    "enabled": "Turn the breaker on or off for this API.",
    "consecutive_failures": "Open after this many failures in a row ...",
    "failure_ratio": "... or when this share of calls failed (above 0, at most 1) ...",
    "window_s": "... over this many seconds ...",
    "min_calls": "... once the window holds at least this many calls.",
    "open_s": "Seconds calls fail at once (CIRCUIT_OPEN) before probes are let through.",
    "half_open_probes": "Calls let through to test a recovering upstream.",
}
P = TypeVar("P", RetryPolicy, CircuitBreakerPolicy)


def parse_retry(p: Problems, raw: Any) -> RetryPolicy:
    policy = _fields(p, "connection.retry", raw, RetryPolicy())
    if not 0 <= policy.budget_ratio <= 1:
        p.add("connection.retry.budget_ratio", f"must be from 0 to 1, not {shown(policy.budget_ratio)}")
    if policy.max_backoff_ms < policy.backoff_ms:
        p.add("connection.retry.max_backoff_ms", "must be at least backoff_ms")
    header = policy.idempotency_key_header
    if header and not HEADER_NAME.match(header):
        p.add(
            "connection.retry.idempotency_key_header", f"{shown(header)} is not a valid header name ('' turns it off)"
        )
    return policy


def parse_circuit_breaker(p: Problems, raw: Any) -> CircuitBreakerPolicy:
    policy = _fields(p, "connection.circuit_breaker", raw, CircuitBreakerPolicy())
    if not 0 < policy.failure_ratio <= 1:
        p.add(
            "connection.circuit_breaker.failure_ratio",
            f"must be above 0 and at most 1, not {shown(policy.failure_ratio)}",
        )
    for name in ("consecutive_failures", "min_calls", "half_open_probes"):
        if getattr(policy, name) < 1:
            p.add(f"connection.circuit_breaker.{name}", "must be at least 1")
    for name in ("window_s", "open_s"):
        if getattr(policy, name) <= 0:
            p.add(f"connection.circuit_breaker.{name}", "must be positive")
    return policy


def _fields(p: Problems, where: str, raw: Any, defaults: P) -> P:
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        p.add(where, "must be a mapping")
        return defaults
    fields = {f.name: f for f in dataclasses.fields(defaults)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            p.add(f"{where}.{key}", f"unknown field; allowed: {', '.join(sorted(fields))}")
            continue
        expected = type(getattr(defaults, key))
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            p.add(f"{where}.{key}", f"must be {expected.__name__}, not {shown(value)}")
            continue
        values[key] = value
    return dataclasses.replace(defaults, **values)
