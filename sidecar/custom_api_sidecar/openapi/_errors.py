"""The exceptions the importer raises: what is wrong, in which document, where.

SpecError               the spec cannot be imported at all (unreadable, not a spec, no paths,
 |                      no operation that could be imported, ...)
 +-- BrokenOperations   ``strict``: some operations could not be imported; each is listed
"""

from __future__ import annotations


class SpecError(Exception):
    """A spec that cannot be imported.

    ``source`` names the document (path or URL) and ``pointer`` the JSON pointer
    inside it (``#/paths/~1pets/get``), so a person can find the spot."""

    def __init__(self, message: str, source: str = "", pointer: str = "") -> None:
        self.message = message
        self.source = source
        self.pointer = pointer
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source + (self.pointer if self.pointer.startswith("#") else "")
        return f"{where}: {self.message}" if where else self.message


class BrokenOperations(SpecError):
    """Under ``strict``, the operations that could not be imported: ``operations`` holds
    ``(operation, why)`` for every one of them, not just the first."""

    def __init__(self, operations: list[tuple[str, str]], source: str = "") -> None:
        self.operations = list(operations)
        listed = "; ".join(f"{operation}: {why}" for operation, why in self.operations)
        super().__init__(f"{len(self.operations)} operation(s) cannot be imported (strict): {listed}", source)
