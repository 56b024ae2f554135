"""The README's marked code blocks: ``<!-- walkthrough: KIND NAME -->`` before a fenced block."""

from __future__ import annotations

import pathlib
import re
import textwrap

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(
    r"^[ \t]*<!-- walkthrough: (?P<label>[^>]+?) -->\n[ \t]*```[a-z]*\n(?P<body>.*?)^[ \t]*```", re.M | re.S
)


def blocks() -> dict[str, str]:
    """Label -> the block's text, dedented as a reader would copy it."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(README.read_text()):
        label = match["label"].strip()
        assert label not in found, f"README.md marks two blocks {label!r}"
        found[label] = textwrap.dedent(match["body"])
    return found


def block(label: str) -> str:
    found = blocks()
    assert label in found, f"README.md has no block marked <!-- walkthrough: {label} -->"
    return found[label]
