"""The documentation site: ``mkdocs build --strict`` is clean, a broken link or anchor fails it, the
README stays a package page, and the user docs speak to users, not about the project's history."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._support.readme import README, ROOT, user_docs

REFERENCE = ROOT / "docs" / "reference"
# The generated reference pages the nav links to by these fixed names.
REFERENCE_PAGES = [
    "index.md",
    "config.md",
    "cli.md",
    "errors.md",
    "metrics.md",
    "environment.md",
    "helm-values.md",
    "grpc.md",
    "python-client.md",
]

# Project-history language: what a user cannot act on. Each entry: (pattern, what it is).
HISTORY = [
    (r"\bissues? #?\d+", "an issue number"),
    (r"\bseeds? ?0\d\d\b|\bseed0\d\d", "a seed name (say PolyAI Agent Studio's format, or describe it)"),
    (r"\bthe commit (before|after)\b", "a commit reference"),
    (r"`(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}`", "a commit hash"),
    (r"\bour (own )?(CI )?machines?\b", "our machines"),
    (r"\bbefore this (work|change|limit)\b", "a before-and-after of the project's own history"),
    (r"\bwhat issue\b|\bthis issue\b", "an issue reference"),
]
# A test file is named only as a command that reproduces a result (`pytest tests/test_x.py`), or on
# the pages that say how the docs and the measurements are checked.
TESTS_NAMED_IN = {"getting-started.md", "performance.md", "architecture.md"}
TEST_REPORT = re.compile(r"(?<!pytest )tests/test_\w+\.py")


def mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_with_no_warning(tmp_path):
    result = mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    for page in ("index.html", "getting-started/index.html", "security/index.html", "reference/config/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert (tmp_path / "site" / "images" / "trace.png").is_file()
    assert (tmp_path / "site" / "images" / "dashboard.png").is_file()


def copy_of_the_site(tmp_path: Path) -> Path:
    """The site's sources in a scratch directory (the packages linked, for the Python reference)."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for package in ("client", "sidecar"):
        (tmp_path / package).symlink_to(ROOT / package)
    return tmp_path / "mkdocs.yml"


@pytest.mark.parametrize(
    ("link", "named"),
    [
        ("[a heading that is not there](guides/secrets.md#no-such-heading)", "no-such-heading"),
        ("[a page that is not there](guides/no-such-page.md)", "no-such-page.md"),
        ("[an anchor on this page that is not there](#nowhere)", "nowhere"),
    ],
)
def test_a_broken_link_or_anchor_fails_the_build(tmp_path, link, named):
    config = copy_of_the_site(tmp_path)
    page = tmp_path / "docs" / "index.md"
    page.write_text(page.read_text() + f"\n{link}\n")
    result = mkdocs(config, tmp_path / "site")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


def test_the_readme_is_a_package_page():
    text = README.read_text()
    assert len(text.splitlines()) < 200
    assert "pip install" in text  # install lines
    assert "<!-- walkthrough: commands -->" in text  # the two commands
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), f"README links to a missing page: {target}"


def test_the_reference_pages_the_nav_names_exist():
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in REFERENCE_PAGES:
        assert (REFERENCE / name).is_file(), name
        assert f"reference/{name}" in nav, name


def hand_written_docs() -> list[Path]:
    """README.md and the site's pages, less the generated reference."""
    return [page for page in user_docs() if REFERENCE not in page.parents]


def test_the_user_docs_speak_to_users():
    found = []
    for page in hand_written_docs():
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for pattern, what in HISTORY:
                for match in re.finditer(pattern, line, re.IGNORECASE):
                    found.append(f"{page.relative_to(ROOT)}:{number}: {what}: {match[0]!r}")
            if page.name not in TESTS_NAMED_IN and TEST_REPORT.search(line):
                found.append(f"{page.relative_to(ROOT)}:{number}: a test report (name the command that reproduces it)")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "This landed in issue 15.",
        "as measured against the commit before them",
        "(`bd03486`)",
        "seed 004's two screens",
        "on our machines",
    ],
)
def test_the_history_check_catches(line):
    assert any(re.search(pattern, line, re.IGNORECASE) for pattern, _ in HISTORY), line
