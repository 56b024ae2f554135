"""Which operations an MCP server exposes, so a deployment can offer an agent a safe subset.

``--api NAME`` keeps only those APIs; ``--include`` keeps only operations matching a pattern;
``--exclude`` drops those matching one (it wins over ``--include``). A pattern is a
case-sensitive glob (``*``, ``?``, ``[...]``) matched against ``api.operation`` and against the
tool name (``api__operation``). A filter is applied to calls as well as to the listing: a
tool that is not listed cannot be called.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["ToolFilter"]


@dataclass(frozen=True)
class ToolFilter:
    apis: tuple[str, ...] = ()  # empty: every API
    include: tuple[str, ...] = ()  # empty: every operation
    exclude: tuple[str, ...] = ()

    def allows(self, api: str, operation: str, tool: str) -> bool:
        if self.apis and api not in self.apis:
            return False
        keys = (f"{api}.{operation}", tool)
        if self.include and not _matches(self.include, keys):
            return False
        return not _matches(self.exclude, keys)

    def problems(self, operations: Iterable[tuple[str, str, str]], flag_prefix: str = "--") -> list[str]:
        """What in this filter names nothing among ``(api, operation, tool)``: an API that is not
        configured, a pattern that matches no operation (a typo must not silently expose more, or
        nothing). ``flag_prefix`` names the flags as given (``--mcp-`` for ``serve``)."""
        operations = list(operations)
        configured = sorted({api for api, _, _ in operations})
        found = [
            f"{flag_prefix}api {name!r} is not a configured API (the configured APIs are: {', '.join(configured)})"
            for name in self.apis
            if name not in configured
        ]
        for flag, patterns in ((f"{flag_prefix}include", self.include), (f"{flag_prefix}exclude", self.exclude)):
            for pattern in patterns:
                if not any(_matches((pattern,), (f"{api}.{op}", tool)) for api, op, tool in operations):
                    found.append(
                        f"{flag} {pattern!r} matches no operation (patterns match api.operation or api__operation)"
                    )
        return found

    def __str__(self) -> str:
        parts = [f"{label} {', '.join(values)}" for label, values in self._parts() if values]
        return "; ".join(parts) or "every operation"

    def _parts(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("apis", self.apis), ("include", self.include), ("exclude", self.exclude))


def _matches(patterns: Iterable[str], keys: tuple[str, str]) -> bool:
    return any(fnmatchcase(key, pattern) for pattern in patterns for key in keys)
