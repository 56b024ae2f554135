"""The chart's pod, run for real: the chart rendered by the Helm engine, played with ``podman
kube play`` (agent and sidecar containers sharing the socket's volume), the agent being the
sidecar's own image running a small Python agent (tests/_support/pod_agent.py). A background
call with a 2 MiB response succeeds, its job kept on the sidecar's own jobs volume, and the agent
container cannot see the jobs database anywhere.

What podman 4.3 needs that Kubernetes does not, changed on the rendered manifest (and only there):
- classic sidecar mode (``sidecar.native=false``): podman does not know native sidecars;
- no ``ports``: podman turns a containerPort into a port mapping, refused with ``--network host``;
- ``metadata.namespace`` given literally: podman's fieldRef knows only ``metadata.name``;
- the volumes renamed for this run: podman makes each volume a named volume on the host, so two
  pods playing the same chart at once would share them.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import uuid
from typing import Any

import helm_python
import yaml

from tests._support.podman import IMAGE, ROOT, PlayedPod, kube_play, podman
from tests._support.upstream import Upstream, pattern_bytes

CHART = ROOT / "helm" / "custom-api-sidecar"
AGENT_SCRIPT = ROOT / "tests" / "_support" / "pod_agent.py"
RESPONSE_BYTES = 2 * 2**20
SIDECAR_PYTHON = "/opt/custom-api-sidecar/bin/python"  # a debootstrap image has no PATH


def api_config(upstream: Upstream) -> dict[str, Any]:
    """The API the agent calls: the test's upstream on the host's loopback (hence plain HTTP and
    a private address, which the API must allow)."""
    return {
        "apis": [
            {
                "name": "files",
                "connection": {"base_url": upstream.url, "allow_http": True, "private_network": True},
                "endpoints": [{"name": "download", "method": "GET", "path": "/bytes/{size}"}],
            }
        ]
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rendered_pod(upstream: Upstream, release: str) -> list[dict[str, Any]]:
    """The Deployment and the ConfigMap, rendered by the Helm engine from these values."""
    image = {"repository": IMAGE.split(":")[0], "tag": IMAGE.split(":")[1], "pullPolicy": "Never"}
    values = {
        "agent": {
            "image": image,
            "command": [SIDECAR_PYTHON, "-c", AGENT_SCRIPT.read_text()],
            "env": [{"name": "AGENT_RESPONSE_BYTES", "value": str(RESPONSE_BYTES)}],
        },
        # a free health port: the pod shares the host's network with whatever else runs here
        "sidecar": {
            "native": False,
            "image": image,
            "healthPort": free_port(),
            "policy": {"egress": ["private_network", "allow_http"]},  # the operator allows api_config()'s opt-ins
        },
        "apis": {"config": api_config(upstream)},
    }
    chart = helm_python.Chart.load(CHART)
    try:
        out = chart.render(values, name=release, namespace="agents")
    finally:
        chart.close()
    docs = [doc for path, text in out.items() if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc]
    return [doc for doc in docs if doc["kind"] in ("Deployment", "ConfigMap")]


def for_podman(docs: list[dict[str, Any]], suffix: str) -> list[str]:
    """The podman 4.3 adjustments (module docstring); the names of the volumes it will make."""
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    renamed = {volume["name"]: f"{volume['name']}-{suffix}" for volume in spec["volumes"]}
    for volume in spec["volumes"]:
        volume["name"] = renamed[volume["name"]]
    for container in spec["containers"]:
        container.pop("ports", None)
        for mount in container["volumeMounts"]:
            mount["name"] = renamed[mount["name"]]
        for item in container.get("env", []):
            if item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
                item.pop("valueFrom")
                item["value"] = deployment["metadata"]["namespace"]
    config_maps = [volume["configMap"]["name"] for volume in spec["volumes"] if "configMap" in volume]
    return [*renamed.values(), *config_maps]


def agent_result(pod: PlayedPod, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for line in pod.logs("agent").splitlines():
            if line.startswith("AGENT-RESULT "):
                return json.loads(line.removeprefix("AGENT-RESULT "))
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no result from the agent in {timeout} s\n--- agent:\n{pod.logs('agent')[-3000:]}"
                f"\n--- sidecar:\n{pod.logs('custom-api-sidecar')[-3000:]}"
            )
        time.sleep(1)


def jobs_in_sidecar(pod: PlayedPod, db: str) -> list[tuple[str, str, int]]:
    """(id, state, response size) of every job, read inside the sidecar container."""
    query = (
        "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
        "print(json.dumps(db.execute('SELECT id, state, length(response) FROM jobs').fetchall()))"
    )
    out = podman("exec", pod.container("custom-api-sidecar"), SIDECAR_PYTHON, "-c", query, db, env=pod.env)
    return [tuple(row) for row in json.loads(out.stdout)]


def test_a_background_call_with_a_2_mib_response_in_the_rendered_pod(image, upstream, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    docs = rendered_pod(upstream, f"pod-{suffix}")
    volumes = for_podman(docs, suffix)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    (agent, sidecar) = deployment["spec"]["template"]["spec"]["containers"]
    db = next(e["value"] for e in sidecar["env"] if e["name"] == "CUSTOM_API_SIDECAR_JOBS_DB")

    with kube_play(manifest, volumes) as pod:
        result = agent_result(pod)
        assert "error" not in result or result["error"] is None, result
        stored = jobs_in_sidecar(pod, db)
        sidecar_logs = pod.logs("custom-api-sidecar")

    assert result["accepted"] == 202 and result["state"] == "succeeded" and result["status"] == 200, result
    assert result["length"] == RESPONSE_BYTES
    assert result["sha256"] == hashlib.sha256(pattern_bytes(RESPONSE_BYTES)).hexdigest()
    # the job was kept on the jobs volume, in the sidecar container
    ((job_id, state, size),) = stored
    assert job_id == result["job_id"] and state == "succeeded" and size > RESPONSE_BYTES
    assert f"background job {job_id} (files.download) done: HTTP 200" in sidecar_logs
    # ... and the agent cannot see it: its socket folder holds the socket alone, and no database
    # is anywhere in its filesystem
    assert result["socket_dir"] == ["sidecar.sock"]
    assert result["databases"] == [], result["databases"]
    assert {m["mountPath"] for m in agent["volumeMounts"]} == {"/var/run/custom-api-sidecar"}
    sent = [r for r in upstream.requests if [k.lower() for k, v in r["headers"] if v == job_id] == ["idempotency-key"]]
    assert [r["path"] for r in sent] == [f"/bytes/{RESPONSE_BYTES}"]  # sent once
