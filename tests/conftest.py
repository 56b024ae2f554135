from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from custom_api_client import connect
from tests._support.configs import test_config
from tests._support.oauth2_server import OAuth2MockServer, ProtectedApi
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream


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
