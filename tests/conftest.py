from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect
from tests._support.configs import test_config
from tests._support.isolated import IsolatedHost, wait_for_text
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.podman import Built, built_image
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

# The operator policy the suite runs under (tests of the policy itself pass their own). Every
# upstream here is a loopback server, most over plain http, and secret files and specs live in
# temporary directories and the checkout: an operator running such APIs allows exactly this.
REPO = str(Path(__file__).resolve().parents[1])
os.environ.setdefault(
    "CUSTOM_API_SIDECAR_POLICY_EGRESS", "private_network,ip_allowlist,allow_http,verify_ssl_off,baggage"
)
os.environ.setdefault("CUSTOM_API_SIDECAR_POLICY_FILE_DIRS", f"{tempfile.gettempdir()},{REPO},/run/secrets")
os.environ.setdefault("CUSTOM_API_SIDECAR_POLICY_SPEC_DIRS", f"{tempfile.gettempdir()},{REPO}")


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="session")
def running(upstream: Upstream, spans: InMemorySpanExporter) -> Iterator[ThreadedSidecar]:
    """One sidecar for the session, on a unix socket and on loopback TCP, exporting spans to memory."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            test_config(upstream.url, closed_port()), f"{tmp}/sidecar.sock", tracer_provider=provider
        )
        yield sidecar
        sidecar.stop()


@pytest.fixture(params=["unix", "tcp"])
def conv(request: pytest.FixtureRequest, running: ThreadedSidecar):
    """A sync conv over each transport."""
    target = running.unix_target if request.param == "unix" else running.tcp_target
    with connect(target) as c:
        yield c


@pytest.fixture
def unix_conv(running: ThreadedSidecar):
    with connect(running.unix_target) as c:
        yield c


# The real OAuth2 server (npm oauth2-mock-server) and an API that checks its tokens;
# one pair per test module, so counts and failure modes do not leak between modules.
@pytest.fixture(scope="module")
def issuer() -> Iterator[OAuth2MockServer]:
    server = OAuth2MockServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def protected(issuer: OAuth2MockServer) -> Iterator[ProtectedApi]:
    api = ProtectedApi(issuer)
    yield api
    api.close()


@dataclass
class ExampleHost:
    host: IsolatedHost
    log: Path  # examples/run.sh's output: the demo agent, then the sidecar's access log


@pytest.fixture(scope="session")
def image() -> Built:
    """The repository's image, built once per run for every test that runs it (image, chart, pod)."""
    return built_image()


# examples/run.sh (the README's run command) serving in a private network and /tmp, so its
# fixed port and default socket are exactly as the README says; shared by the README and
# Node-client tests.
@pytest.fixture(scope="session")
def example_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleHost]:
    host = IsolatedHost(tmp_path_factory.mktemp("example-host-tmp"))
    log = tmp_path_factory.mktemp("example-host") / "run.sh.log"
    with log.open("w") as out:
        run = host.start("bash examples/run.sh", out)
    try:
        wait_for_text(log, "--- serving", timeout=120, proc=run)
        yield ExampleHost(host, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C, as the README says
        try:
            run.wait(15)
        finally:
            host.close()
