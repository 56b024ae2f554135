"""One credential part as the call path reads it: a literal, or a reference held by the secret store."""

from __future__ import annotations

from ..secrets import SecretRef, SecretStore, is_reference, parse_reference


class Part:
    __slots__ = ("_literal", "_store", "ref")

    def __init__(self, text: str, store: SecretStore, environment: str) -> None:
        self.ref: SecretRef | None = None
        self._literal = text
        self._store = store
        if is_reference(text):
            self.ref = parse_reference(text).for_environment(environment)
            store.register(self.ref)  # read before the first call, refreshed in the background

    @property
    def secret(self) -> bool:
        """A referenced value is secret; a literal (a username, a tenant id) is not."""
        return self.ref is not None

    def value(self) -> str:
        """Memory only. Raises SidecarError(CREDENTIALS_UNAVAILABLE) naming the reference, never a value."""
        return self._literal if self.ref is None else self._store.get(self.ref)

    def version(self) -> int:
        return 0 if self.ref is None else self._store.version(self.ref)
