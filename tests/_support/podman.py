"""podman for the image tests: the global flags this machine needs, a Debian base image made
with debootstrap (no registry is reachable) and cached in podman's store, and the build.

A machine without podman fails the tests that need it with a clear message: they never skip."""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
GLOBAL = ["--runtime", "runc", "--cgroup-manager=cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host"]
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # what this machine's pip trusts
IMAGE = "localhost/custom-api-sidecar:test"


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("podman")
    assert binary, "podman is not installed: tests/run.sh installs Debian's podman, runc and debootstrap"
    result = subprocess.run([binary, *GLOBAL, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def base_image() -> tuple[str, float]:
    """A Debian bookworm image with python3 and venv, made once and kept (tagged by the recipe)."""
    recipe = hashlib.sha256(" ".join([*DEBOOTSTRAP, MIRROR]).encode()).hexdigest()[:12]
    name = f"localhost/custom-api-sidecar-base:bookworm-{recipe}"
    if podman("image", "exists", name, check=False).returncode == 0:
        return name, 0.0
    assert shutil.which("debootstrap"), "debootstrap is not installed (tests/run.sh installs it)"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as rootfs:
        subprocess.run([*DEBOOTSTRAP, rootfs, MIRROR], check=True, capture_output=True, timeout=900)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [shutil.which("podman") or "podman", *GLOBAL, "import", "-", name], stdin=tar.stdout, capture_output=True
        )
        tar.wait()
        assert imported.returncode == 0, imported.stderr
    return name, time.monotonic() - started


def build_image(base: str) -> float:
    """Build the repository's Dockerfile on ``base``; the seconds it took (layers are cached)."""
    started = time.monotonic()
    podman(
        "build",
        *LIMITS,
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--secret",
        f"id=ca_bundle,src={CA_BUNDLE}",
        "-t",
        IMAGE,
        str(ROOT),
    )
    return time.monotonic() - started


def run_args(*args: str) -> list[str]:
    return ["run", *LIMITS, *args]
