"""helm-values.md: every value of the chart's values.yaml with its comment, type and default.

Comments are read helm-docs style: a ``# -- text`` block (continued by ``#`` lines) above a key,
else the comment block right above it, else the comment after its value on the same line. A
block mapping is one row when it has a comment and none of its keys has one (``caSecret``);
otherwise each of its keys is a row and its comment introduces them. A value without any
comment fails the generation.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import yaml

from ._markdown import MissingDescription, code, page, prose, table

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "custom-api-sidecar"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
# A value (quoted strings may hold a #) followed by a comment.
_TRAILING = re.compile(r"""^\s*(?:"[^"]*"|'[^']*'|[^#"']*?)\s+#\s?(?P<comment>.*)$""")


def comments(text: str) -> dict[str, str]:
    """Dotted key path -> its comment, from the lines of values.yaml."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.startswith("--"):
                pending = [body[2:].strip()]
            else:
                pending.append(body)
            continue
        if not stripped or stripped.startswith("- "):
            if not stripped:
                pending = []  # a blank line ends a comment block: it belonged to no key
            continue
        match = _KEY.match(line)
        if match is None:
            pending = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([key for _, key in stack] + [match["key"]])
        stack.append((indent, match["key"]))
        trailing = _TRAILING.match(match["rest"])
        inline = trailing["comment"].strip() if trailing else ""
        text_ = " ".join(part for part in pending if part) or inline
        if text_:
            out[path] = text_
        pending = []
    return out


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _default(value: Any) -> str:
    if isinstance(value, str):
        return code(json.dumps(value))
    text = json.dumps(value, separators=(", ", ": "))
    return code(text if len(text) <= 120 else text[:117] + "...")


def rows(values: dict[str, Any], notes: dict[str, str]) -> list[tuple[str, Any, str, list[str]]]:
    """(path, value, comment, the paths of the commented mappings it is in) for every value, in file order."""
    out: list[tuple[str, Any, str, list[str]]] = []

    def walk(mapping: dict[str, Any], prefix: str, context: list[str]) -> None:
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            note = notes.get(path, "")
            children = isinstance(value, dict) and value and any(p.startswith(path + ".") for p in notes)
            if children and not (note and path in _WHOLE):
                walk(value, path + ".", [*context, path] if note else context)
                continue
            if not note:
                raise MissingDescription(f"helm value {path} has no comment in values.yaml")
            out.append((path, value, note, context))

    walk(values, "", [])
    return out


# Block mappings documented as one value even though a key inside has a comment of its own.
_WHOLE = {"apis.config"}


def render() -> str:
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    notes = comments(text)
    sections: dict[str, list[tuple[str, ...]]] = {}
    for path, value, note, context in rows(values, notes):
        section = context[-1] if context else path.split(".")[0] if "." in path else ""
        sections.setdefault(section, []).append((code(path), _type(value), _default(value), prose(note)))
    blocks = []
    for section, table_rows in sections.items():
        heading = f"### {section or 'General'}\n\n" + (f"{prose(notes[section])}\n\n" if section in notes else "")
        blocks.append(heading + table(("key", "type", "default", "description"), table_rows))
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    return page(
        "Helm chart values",
        f"The values of the `{chart['name']}` chart (`helm/{chart['name']}`), with their defaults, read from "
        "its `values.yaml` and its comments. `values.schema.json` checks them at install: an unknown or "
        "mistyped value is an error. Set them with `--set` or a values file:\n\n"
        f"```\nhelm install voice helm/{chart['name']} -f my-values.yaml\n```",
        "## Values\n\n" + "\n\n".join(blocks),
    )
