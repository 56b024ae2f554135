"""Config problems, reported all at once and each naming file, API, field and problem."""

from __future__ import annotations

from dataclasses import dataclass

from .._text import shown

__all__ = ["ConfigError", "Problem", "Problems", "shown"]
MAX_FIELD = 200  # a field path can hold a key of the file: problems quote at most this much of it


@dataclass(frozen=True)
class Problem:
    file: str
    api: str  # "" when the problem is not inside one API
    field: str  # dotted path inside the API (or the file), e.g. endpoints[1].method
    message: str

    def __str__(self) -> str:
        where = f"api {self.api!r}: " if self.api else ""
        field = f"{self.field}: " if self.field else ""
        return f"{self.file}: {where}{field}{self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Problems:
    """Collects problems while parsing one file, scoped to the API being parsed."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.api = ""
        self.items: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        if len(field) > MAX_FIELD:
            field = field[: MAX_FIELD - 3] + "..."
        api = self.api if len(self.api) <= 80 else self.api[:77] + "..."
        self.items.append(Problem(self.file, api, field, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
