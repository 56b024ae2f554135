"""podman for the image tests: the global flags this machine needs, a Debian base image made
with debootstrap (no registry is reachable) and cached in podman's store, the build, and
``kube play`` for a rendered pod.

A machine without podman fails the tests that need it with a clear message: they never skip."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GLOBAL = ["--runtime", "runc", "--cgroup-manager=cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host"]
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # what this machine's pip trusts
# One tag per checkout: test runs of two checkouts on one machine never use each other's image.
IMAGE = f"localhost/custom-api-sidecar:test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"


def podman(
    *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("podman")
    assert binary, "podman is not installed: tests/run.sh installs Debian's podman, runc and debootstrap"
    result = subprocess.run(
        [binary, *GLOBAL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=input,
    )
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


@dataclass(frozen=True)
class Built:
    base_seconds: float  # 0: the base image was cached
    build_seconds: float


@functools.cache
def built_image() -> Built:
    """The base image and the repository's image, made at most once per test process: the image,
    chart and pod tests share one build."""
    base, base_seconds = base_image()
    return Built(base_seconds, build_image(base))


def run_args(*args: str) -> list[str]:
    return ["run", *LIMITS, *args]


# kube play has no --ulimit flag: the limits come from a containers.conf.
KUBE_CONF = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'


@dataclass(frozen=True)
class PlayedPod:
    name: str
    env: dict[str, str]

    def container(self, name: str) -> str:
        """The podman name of the pod's container ``name`` (kube play: <pod>-<container>)."""
        return f"{self.name}-{name}"

    def logs(self, name: str) -> str:
        result = podman("logs", self.container(name), check=False, env=self.env)
        return result.stdout + result.stderr


@contextlib.contextmanager
def kube_play(manifest: pathlib.Path, volumes: tuple[str, ...] = ()) -> Iterator[PlayedPod]:
    """``podman kube play --network host`` on ``manifest`` (one Deployment, and ConfigMaps); after,
    ``kube down``, the pod removed even if it only half started, and the named ``volumes`` removed
    (podman 4.3 keeps a ConfigMap's volume after ``kube down``)."""
    (deployment,) = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc and doc["kind"] == "Deployment"]
    pod = PlayedPod(f"{deployment['metadata']['name']}-pod-0", {"CONTAINERS_CONF": str(manifest.parent / "kube.conf")})
    (manifest.parent / "kube.conf").write_text(KUBE_CONF)
    try:
        podman("kube", "play", "--network", "host", str(manifest), env=pod.env, timeout=300)
        yield pod
    finally:
        podman("kube", "down", str(manifest), check=False, env=pod.env, timeout=120)
        left = podman("ps", "-a", "--filter", f"name=^{pod.name}-", "--format", "{{.Pod}}", check=False, env=pod.env)
        for pod_id in set(left.stdout.split()):
            podman("pod", "rm", "--force", pod_id, check=False, env=pod.env)
        for volume in volumes:
            podman("volume", "rm", "--force", volume, check=False, env=pod.env)
