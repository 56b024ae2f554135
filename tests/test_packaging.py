"""What `pip install .` puts into an agent's environment: two distinctively named packages,
an importable client, and a console script that explains a missing [sidecar] extra."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", out, ROOT],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("custom_api_sidecar-*.whl")
    return found


def test_wheel_holds_only_distinctive_top_level_packages(wheel: pathlib.Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"custom_api_client", "custom_api_sidecar"}
    # every package of the source tree is in the wheel (the find rules miss nothing)
    for root in ("client", "sidecar"):
        for init in (ROOT / root).rglob("__init__.py"):
            assert init.relative_to(ROOT / root).as_posix() in names
    assert "custom_api_client/proto/sidecar_pb2.pyi" in names
    assert "custom_api_client/py.typed" in names and "custom_api_sidecar/py.typed" in names


def test_client_only_install(wheel: pathlib.Path, tmp_path: pathlib.Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [bin_dir / "pip", "install", "-q", "--disable-pip-version-check", wheel], check=True, capture_output=True
    )
    # Run from an empty directory so nothing of the checkout is importable by accident.
    work = tmp_path / "cwd"
    work.mkdir()
    imported = subprocess.run(
        [bin_dir / "python", "-c", "from custom_api_client import connect, connect_async; print('ok')"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert imported.stdout.strip() == "ok", imported.stderr
    for bare in ("client", "sidecar"):
        missing = subprocess.run([bin_dir / "python", "-c", f"import {bare}"], cwd=work, capture_output=True)
        assert missing.returncode != 0, f"a bare {bare!r} module was installed"
    script = subprocess.run([bin_dir / "custom-api-sidecar", "--help"], cwd=work, capture_output=True, text=True)
    assert script.returncode == 2
    assert "Traceback" not in script.stderr
    assert "pip install 'custom-api-sidecar[sidecar]'" in script.stderr
