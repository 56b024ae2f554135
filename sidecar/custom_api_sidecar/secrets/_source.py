"""What a secret source is: something that turns a reference into a value, blocking.

The store calls ``fetch`` in a worker thread only (never on the event loop), so a
source may do file or network I/O freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._reference import SecretRef


@dataclass(frozen=True)
class Fetched:
    value: str
    # Seconds the value is leased for (KV v1 lease_duration, dynamic secrets): the store
    # refreshes before it runs out even if that is sooner than the refresh interval.
    lease_seconds: float | None = None


class SecretUnavailable(Exception):
    """A reference did not resolve. The message names the reference and the reason,
    never a value; it is shown in status reports, logs and CREDENTIALS_UNAVAILABLE errors."""


class SecretSource(Protocol):
    async def start(self) -> None: ...

    def fetch(self, ref: SecretRef) -> Fetched: ...

    async def aclose(self) -> None: ...


# Fields a field-less reference falls back to, in order, when a secret holds several.
DEFAULT_FIELDS = ("value", "key")


def select_field(ref: SecretRef, data: object, where: str) -> str:
    """``data[ref.field]`` as a string; with no field, the whole of ``data`` if it is text, else the
    mapping's default field: its only field, else ``value``, else ``key``, else the field named
    like the last path segment (``vault://kv/apis/crm/token`` -> ``token``)."""
    if ref.field is None:
        if isinstance(data, str):
            return data
        if not isinstance(data, dict):
            raise SecretUnavailable(f"{ref.text}: {where} holds structured data; name a key with '#<field>'")
        return _pick(ref, data, _default_field(ref, data, where), where)
    if not isinstance(data, dict):
        raise SecretUnavailable(f"{ref.text}: {where} is not a mapping, so it has no field {ref.field!r}")
    if ref.field not in data:
        raise SecretUnavailable(f"{ref.text}: field {ref.field!r} not found in {where} (fields: {_keys(data)})")
    return _pick(ref, data, ref.field, where)


def _default_field(ref: SecretRef, data: dict[object, object], where: str) -> str:
    if len(data) == 1:
        return str(next(iter(data)))
    last_segment = ref.location.rsplit("/", 1)[-1]
    for candidate in (*DEFAULT_FIELDS, last_segment):
        if candidate in data:
            return candidate
    if not data:
        raise SecretUnavailable(f"{ref.text}: {where} has no fields")
    raise SecretUnavailable(
        f"{ref.text}: {where} has several fields ({_keys(data)}) and none is named value, key or "
        f"{last_segment!r}; name one with '#<field>'"
    )


def _pick(ref: SecretRef, data: dict[object, object], field: str, where: str) -> str:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SecretUnavailable(f"{ref.text}: field {field!r} in {where} is not a string or number")
    return str(value)


def _keys(data: dict[object, object]) -> str:
    return ", ".join(sorted(str(key) for key in data)) or "none"
