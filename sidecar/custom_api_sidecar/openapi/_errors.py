"""The one exception the importer raises: what is wrong, in which document, where."""

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
