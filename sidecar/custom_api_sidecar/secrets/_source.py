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


def select_field(ref: SecretRef, data: object, where: str) -> str:
    """``data[ref.field]`` as a string, or the whole of ``data`` when no field is given."""
    if ref.field is None:
        if isinstance(data, str):
            return data
        raise SecretUnavailable(f"{ref.text}: {where} holds structured data; name a key with '#<field>'")
    if not isinstance(data, dict):
        raise SecretUnavailable(f"{ref.text}: {where} is not a mapping, so it has no field {ref.field!r}")
    if ref.field not in data:
        keys = ", ".join(sorted(str(key) for key in data)) or "none"
        raise SecretUnavailable(f"{ref.text}: field {ref.field!r} not found in {where} (fields: {keys})")
    value = data[ref.field]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SecretUnavailable(f"{ref.text}: field {ref.field!r} in {where} is not a string or number")
    return str(value)
