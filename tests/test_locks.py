"""The hashed lock files (requirements/*.lock, made by tools/lock.py): up to date with pyproject.toml,
every pin hashed, the shared pins of the two runtime locks equal, and this test environment running
exactly the locked runtime (tests/run.sh installs it from the lock, hash-checked)."""

from __future__ import annotations

import importlib.metadata as md
import pathlib
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests._support.locks import pins, pins_with_hashes

ROOT = pathlib.Path(__file__).resolve().parent.parent
# the image's platform, for which the locks are compiled
IMAGE_MARKERS = {"python_version": "3.11", "python_full_version": "3.11.2", "sys_platform": "linux"}


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *(r for e in extras for r in project["optional-dependencies"][e])]
    requirements = [Requirement(r) for r in listed]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({**IMAGE_MARKERS, "extra": ""})]


def test_the_locks_match_pyproject():
    """Re-compiled with the pinned uv, keeping today's pins: the same files (fails only when pyproject
    changed; the fix is `python tools/lock.py`)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lock.py"), "--check"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_every_direct_requirement_is_pinned_within_its_range_and_hashed():
    for lock, extras in (("sidecar.lock", ("sidecar",)), ("sidecar-mcp.lock", ("sidecar", "mcp"))):
        locked = pins_with_hashes(lock)
        for requirement in project_requirements(*extras):
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{lock} does not pin {name}"
            version = locked[name][0]
            assert requirement.specifier.contains(version, prereleases=True), f"{lock}: {name}=={version}"
        unhashed = [name for name, (_, hashes) in locked.items() if hashes == 0]
        assert not unhashed, f"{lock}: pins without a hash: {unhashed}"


def test_the_mcp_lock_adds_the_sdk_and_changes_no_shared_pin():
    runtime, with_mcp = pins("sidecar.lock"), pins("sidecar-mcp.lock")
    assert "mcp" not in runtime and "starlette" not in runtime and "uvicorn" not in runtime
    assert {"mcp", "starlette", "uvicorn", "pydantic"} <= set(with_mcp)
    assert set(runtime) <= set(with_mcp)
    changed = {name: (v, with_mcp[name]) for name, v in runtime.items() if with_mcp[name] != v}
    assert not changed


def test_the_tests_run_the_locked_runtime():
    """tests/run.sh installs requirements/sidecar-mcp.lock hash-checked, then the test tools constrained by
    it: no tool may move a runtime pin."""
    drift = {}
    for name, version in pins("sidecar-mcp.lock").items():
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            installed = None
        if installed != version:
            drift[name] = (version, installed)
    assert not drift, f"locked vs installed: {drift}; run tests/run.sh (or pip install from the lock)"


def test_the_build_tools_lock_pins_the_sbom_generator():
    tools = pins_with_hashes("build-tools.lock")
    assert tools["cyclonedx-bom"][0] == "7.5.0" and all(hashes for _, hashes in tools.values())
