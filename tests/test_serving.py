"""The real CLI process: where it listens, health, reflection, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from custom_api_client import connect, errors
from custom_api_sidecar import parse_listen

CONFIG = """
apis:
  - name: upstream
    connection: {{allow_http: true, private_network: true, base_url: "{url}", timeout_ms: 10000}}
    endpoints:
      - name: delay
        method: GET
        path: "/delay/{{seconds}}"
        parameters: [{{name: seconds, in: path, type: number}}]
"""


class SidecarProcess:
    def __init__(self, tmp: Path, upstream_url: str, *extra: str) -> None:
        config = tmp / "apis.yaml"
        config.write_text(CONFIG.format(url=upstream_url))
        self.socket = tmp / "sidecar.sock"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "custom_api_sidecar",
                "serve",
                "--config",
                str(config),
                "--listen",
                f"unix://{self.socket}",
                "--listen",
                "127.0.0.1:0",
                "--grace",
                "5",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while len(self.lines) < 2:
            line = self._readline(deadline)
            self.lines.append(line.strip())
        self.tcp_target = self.lines[0].rsplit(", ", 1)[1]
        self.unix_target = f"unix://{self.socket}"

    def _readline(self, deadline: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(max(deadline - time.monotonic(), 0.1))
        if not result or not result[0]:
            self.kill()
            raise AssertionError(f"sidecar did not start: {self.proc.stderr.read()}")
        return result[0]

    def terminate(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def process(tmp_path, upstream) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(tmp_path, upstream.url)
    yield proc
    proc.kill()


def test_startup_says_where_and_what(process):
    assert process.lines[0] == f"custom-api-sidecar listening on {process.unix_target}, {process.tcp_target}"
    assert process.tcp_target.startswith("127.0.0.1:")
    assert process.lines[1] == "environment 'sandbox'; serving 1 APIs: upstream (1 operations)"


def test_unix_socket_is_owner_only(process):
    mode = stat.S_IMODE(os.stat(process.socket).st_mode)
    assert mode == 0o600


def test_health(process):
    with grpc.insecure_channel(process.unix_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "custom_api_sidecar.v1.CustomApiSidecar"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_services_and_serves_descriptors(process, version):
    """grpcurl and other tools ask for grpc.reflection.v1 first; older ones for v1alpha."""
    with grpc.insecure_channel(process.unix_target) as channel:
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="custom_api_sidecar.v1.CustomApiSidecar"),
        ]
        listed, described = list(info(iter(requests), timeout=5))
    services = {s.name for s in listed.list_services_response.service}
    assert {
        "custom_api_sidecar.v1.CustomApiSidecar",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    (proto,) = described.file_descriptor_response.file_descriptor_proto
    assert b"custom_api_sidecar/v1/sidecar.proto" in proto


def test_sigterm_drains_in_flight_call_then_exits_zero(process):
    result: dict = {}

    def call() -> None:
        with connect(process.tcp_target) as conv:
            result["response"] = conv.api.upstream.delay(1.0)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)  # the call is now waiting on the upstream
    started = time.monotonic()
    assert process.terminate() == 0
    caller.join(10)
    assert result["response"].status_code == 200  # the in-flight call completed
    assert time.monotonic() - started < 5
    assert not process.socket.exists()
    with pytest.raises(errors.SidecarUnavailable):
        connect(process.unix_target).api.upstream.delay(0)


def test_bad_listen_address_exits_with_message(tmp_path, upstream):
    config = tmp_path / "apis.yaml"
    config.write_text(CONFIG.format(url=upstream.url))
    result = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "'0.0.0.0:0' is not loopback; pass --allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_config_at_serve_exits_with_message(tmp_path):
    config = tmp_path / "apis.yaml"
    config.write_text("apis: [{name: Bad}]")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "custom_api_sidecar",
            "serve",
            "--config",
            str(config),
            "--listen",
            f"unix://{tmp_path}/s",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{config}: api 'Bad': name:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("127.0.0.1:50051", True),
        ("[::1]:50051", True),
        ("localhost:50051", True),
        ("unix:///tmp/x.sock", True),
        ("/tmp/x.sock", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.0.0.1:50051", False),
        ("unix:relative.sock", False),
        ("nonsense", False),
    ],
)
def test_parse_listen(address, ok):
    if ok:
        assert parse_listen(address).address
    else:
        with pytest.raises(ValueError):
            parse_listen(address)


def test_allow_remote_is_explicit():
    assert parse_listen("0.0.0.0:50051", allow_remote=True).address == "0.0.0.0:50051"


def serve_once(tmp_path, upstream, *listen: str) -> subprocess.CompletedProcess:
    config = tmp_path / "apis.yaml"
    config.write_text(CONFIG.format(url=upstream.url))
    args = [a for address in listen for a in ("--listen", address)]
    return subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_socket_directory_is_a_clear_error(tmp_path, upstream):
    result = serve_once(tmp_path, upstream, f"unix://{tmp_path}/no/such/dir/s.sock")
    assert result.returncode == 2
    assert f"cannot listen on unix://{tmp_path}/no/such/dir/s.sock" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_a_clear_error(tmp_path, upstream, process):
    result = serve_once(tmp_path, upstream, process.tcp_target)
    assert result.returncode == 2
    assert f"cannot listen on {process.tcp_target}" in result.stderr


def test_a_served_socket_is_never_stolen(tmp_path, upstream, process):
    result = serve_once(tmp_path, upstream, process.unix_target)
    assert result.returncode == 2
    assert "another process is serving it" in result.stderr
    with connect(process.unix_target) as conv:  # the first sidecar still answers
        assert conv.api.upstream.delay(0).ok


def test_a_stale_socket_is_replaced(tmp_path, upstream):
    import socket as socketlib

    stale = tmp_path / "sidecar.sock"
    with socketlib.socket(socketlib.AF_UNIX) as sock:
        sock.bind(str(stale))  # bound, never listening: what a killed process leaves
    proc = SidecarProcess(tmp_path, upstream.url)
    try:
        with connect(proc.unix_target) as conv:
            assert conv.api.upstream.delay(0).ok
    finally:
        proc.kill()


def test_health_only_listener_serves_health_and_nothing_else(tmp_path, upstream):
    """For kubelet's grpc probes, which connect to the pod IP: health is served there, Invoke,
    ListApis and reflection are not (they stay on the socket and loopback)."""
    proc = SidecarProcess(tmp_path, upstream.url, "--health-listen", "127.0.0.1:0")
    try:
        line = proc._readline(time.monotonic() + 10).strip()
        assert line.startswith("health (grpc.health.v1 only) on 127.0.0.1:")
        target = line.rsplit(" ", 1)[1]
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            for method, request in (
                ("/custom_api_sidecar.v1.CustomApiSidecar/ListApis", b""),
                ("/custom_api_sidecar.v1.CustomApiSidecar/Invoke", b""),
                ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    if request is None:
                        list(channel.stream_stream(method)(iter([b""]), timeout=5))
                    else:
                        channel.unary_unary(method)(request, timeout=5)
                assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED, method
        assert proc.terminate() == 0
    finally:
        proc.kill()
