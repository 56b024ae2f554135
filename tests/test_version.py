"""``custom-api-sidecar --version``: one version, pyproject.toml's, in the CLI, the package, the
Dockerfile's label default, the chart's appVersion and the CHANGELOG's latest release (the built
image's label is checked in tests/test_image.py)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tomllib

import yaml

import custom_api_sidecar

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_cli_prints_the_project_version():
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"custom-api-sidecar {PROJECT_VERSION}\n"
    assert custom_api_sidecar.__version__ == PROJECT_VERSION


def test_the_dockerfile_label_default_is_the_project_version():
    dockerfile = (ROOT / "Dockerfile").read_text()
    defaults = re.findall(r"^ARG VERSION=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert defaults == [PROJECT_VERSION], "Dockerfile's ARG VERSION must equal pyproject.toml's version"
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile


def test_the_chart_deploys_the_project_version():
    chart = yaml.safe_load((ROOT / "helm" / "custom-api-sidecar" / "Chart.yaml").read_text())
    assert chart["appVersion"] == PROJECT_VERSION


def test_the_changelog_has_notes_for_the_project_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.MULTILINE)
    assert released and released[0] == PROJECT_VERSION, "CHANGELOG.md: the newest release is not pyproject's version"
    assert f"[{PROJECT_VERSION}]: https://" in changelog
