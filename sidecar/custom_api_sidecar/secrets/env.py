"""``env://VAR``: a value from the sidecar's environment (e.g. a Kubernetes secretKeyRef)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ._reference import SecretRef
from ._source import Fetched, SecretUnavailable


class EnvSource:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ

    async def start(self) -> None:
        pass

    def fetch(self, ref: SecretRef) -> Fetched:
        value = self._environ.get(ref.location)
        if value is None:
            raise SecretUnavailable(f"{ref.text}: environment variable {ref.location} is not set")
        if not value:
            raise SecretUnavailable(f"{ref.text}: environment variable {ref.location} is empty")
        return Fetched(value)

    async def aclose(self) -> None:
        pass
