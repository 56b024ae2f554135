"""The user docs' marked code blocks: ``<!-- walkthrough: KIND NAME -->`` before a fenced block.

The blocks live where a reader finds them: the two commands in README.md, the walkthrough in
docs/getting-started.md, the Node.js agent in docs/guides/other-languages.md. A label names one
block; the same label may mark copies on several pages only when they are identical, so a copy
can never drift from the one the tests run.
"""

from __future__ import annotations

import pathlib
import re
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
_BLOCK = re.compile(
    r"^[ \t]*<!-- walkthrough: (?P<label>[^>]+?) -->\n[ \t]*```[a-z]*\n(?P<body>.*?)^[ \t]*```", re.M | re.S
)


def user_docs() -> list[pathlib.Path]:
    """README.md and every page of the documentation site."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def blocks() -> dict[str, str]:
    """Label -> the block's text, dedented as a reader would copy it."""
    found: dict[str, tuple[str, pathlib.Path]] = {}
    for page in user_docs():
        for match in _BLOCK.finditer(page.read_text()):
            label = match["label"].strip()
            body = textwrap.dedent(match["body"])
            if label in found:
                first_body, first_page = found[label]
                assert body == first_body, f"{page} and {first_page} mark different blocks {label!r}"
            found[label] = (body, found.get(label, (body, page))[1])
    return {label: body for label, (body, _) in found.items()}


def block(label: str) -> str:
    found = blocks()
    assert label in found, f"no user doc marks a block <!-- walkthrough: {label} -->"
    return found[label]
