"""Settings of the secret store itself (the ``secrets:`` config section)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REFRESH_INTERVAL = 300.0
DEFAULT_MAX_STALENESS = 3600.0
DEFAULT_RETRY_INTERVAL = 10.0


@dataclass(frozen=True)
class SecretSettings:
    # Every value is re-read this often, so a rotated secret is in use within one interval.
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL
    # While its source is down a value keeps serving for this long after its last good read.
    max_staleness: float = DEFAULT_MAX_STALENESS
    # After a failed read, try again this soon (capped by refresh_interval).
    retry_interval: float = DEFAULT_RETRY_INTERVAL

    def __post_init__(self) -> None:
        for name in ("refresh_interval", "max_staleness", "retry_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"secrets.{name} must be a positive number of seconds")
