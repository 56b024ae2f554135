"""The gRPC server: the CustomApiSidecar service, health, reflection, graceful stop.

Listens on a unix socket (owner-only by default) and/or a loopback TCP address;
a non-loopback address needs ``allow_remote=True``. SIGTERM/SIGINT drain
in-flight calls for ``grace`` seconds, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import signal
import socket
import stat
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from custom_api_client import DEFAULT_TARGET
from custom_api_client.proto import sidecar_pb2 as pb
from custom_api_client.proto import sidecar_pb2_grpc

from ._text import shown
from .agent_connection_tests import AgentConnectionTests, AgentTestSettings
from .app import Sidecar
from .conv_log import LEVELS
from .errors import SidecarError, StartupError
from .invoke import get_job, invoke
from .pipeline import Call
from .pipeline.context import read_context
from .reflection import enable_reflection
from .reloader import ConfigReloader
from .request_decoding import Undecodable, add_servicer
from .search._serve import call_by_text, search

if TYPE_CHECKING:
    from .mcp import McpHttpSettings
    from .mcp.transports.http import McpHttpListener

log = logging.getLogger("custom_api_sidecar")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CustomApiSidecar"].full_name
# Room for headers and framing on top of the largest configured body.
MESSAGE_OVERHEAD_BYTES = 1024 * 1024
# What a DescribeApi answer may be: the client's receive limit (custom_api_client._target). A big
# imported spec's answer is tens of MB (38 MB for 1,200 operations), past the largest body.
MAX_DESCRIBE_BYTES = 256 * 1024 * 1024
# Calls that arrived but that the server has not yet handed to Python. grpc.aio takes them one at
# a time, so a burst queues here; past grpc's default (1,000, then randomly until 3,000) grpc
# cancelled calls (measured: 7-10% of a 2,000-call burst ended CANCELLED, with no ErrorDetail).
# The in-flight cap (admission.py) is the limit that answers with a typed error; this one only
# bounds the queue (measured: about 13 KB a queued call; 20,000 at once took 330 MB) and cancels
# past it, which the client reports as SidecarUnavailable.
MAX_PENDING_CALLS = 8192

if TYPE_CHECKING:
    from .admin import AdminServer, AdminSettings  # aiohttp.web: imported only when the admin listener is on

R = TypeVar("R")


def translate_errors(
    method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]:
    """The one place a SidecarError becomes a gRPC status plus ErrorDetail."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            if isinstance(request, Undecodable):  # bytes that were not a message (request_decoding)
                raise request.error()
            return await method(self, request, context)
        except SidecarError as err:
            await context.abort(err.grpc_status, err.message, err.trailing_metadata())
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("internal error in %s", method.__name__)
            internal = SidecarError(pb.ErrorCode.INTERNAL, "internal sidecar error (details are in the sidecar log)")
            await context.abort(internal.grpc_status, internal.message, internal.trailing_metadata())
        raise AssertionError("abort returned")

    return wrapper


class CustomApiSidecarServicer(sidecar_pb2_grpc.CustomApiSidecarServicer):
    def __init__(self, sidecar: Sidecar, agent_tests: AgentConnectionTests | None = None) -> None:
        self._sidecar = sidecar
        self._agent_tests = agent_tests or AgentConnectionTests(sidecar)

    @translate_errors
    async def Invoke(self, request: pb.InvokeRequest, context: grpc.aio.ServicerContext) -> pb.InvokeResponse:
        call = Call(
            request=request,
            metadata=tuple(context.invocation_metadata() or ()),
            time_remaining=context.time_remaining(),
        )
        return await invoke(self._sidecar, call)

    @translate_errors
    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> pb.GetJobResponse:
        return await get_job(self._sidecar, request.job_id, tuple(context.invocation_metadata() or ()))

    @translate_errors
    async def Log(self, request: pb.LogRequest, context: grpc.aio.ServicerContext) -> pb.LogResponse:
        metadata = tuple(context.invocation_metadata() or ())
        conversation_id, agent_id = read_context(metadata)
        if request.level not in LEVELS:
            raise SidecarError(
                pb.ErrorCode.INVALID_ARGUMENT, f"log level {shown(request.level)} is not one of {', '.join(LEVELS)}"
            )
        carrier = {key: value for key, value in metadata if isinstance(value, str)}
        self._sidecar.conv_log.write(request.level, request.message, conversation_id, agent_id, carrier)
        return pb.LogResponse()

    @translate_errors
    async def TestConnection(
        self, request: pb.TestConnectionRequest, context: grpc.aio.ServicerContext
    ) -> pb.TestConnectionResponse:
        reports = await self._agent_tests.run(request.apis)  # at most one run per API per window
        return pb.TestConnectionResponse(apis=[report.to_proto() for report in reports])

    @translate_errors
    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext) -> pb.SearchResponse:
        return search(self._sidecar.generation, request.query, request.limit)

    @translate_errors
    async def Call(self, request: pb.CallRequest, context: grpc.aio.ServicerContext) -> pb.InvokeResponse:
        metadata = tuple(context.invocation_metadata() or ())
        return await call_by_text(self._sidecar, request, metadata, context.time_remaining())

    @translate_errors
    async def ListApis(self, request: pb.ListApisRequest, context: grpc.aio.ServicerContext) -> pb.ListApisResponse:
        return self._sidecar.catalog.list_response

    @translate_errors
    async def DescribeApi(
        self, request: pb.DescribeApiRequest, context: grpc.aio.ServicerContext
    ) -> pb.DescribeApiResponse:
        return self._sidecar.catalog.describe(request.api)


class ListenError(OSError):
    """An address could not be listened on; the message says which and why."""


@dataclass(frozen=True)
class Listener:
    address: str  # a gRPC address: unix:///path or host:port

    @property
    def socket_path(self) -> str | None:
        return self.address.removeprefix("unix://") if self.address.startswith("unix://") else None


def parse_listen(address: str, allow_remote: bool = False) -> Listener:
    """``unix:///path`` (or ``/path``) or ``host:port``; a non-loopback host needs allow_remote."""
    if address.startswith("/"):
        address = f"unix://{address}"
    if address.startswith("unix:"):
        path = address.removeprefix("unix://") if address.startswith("unix://") else address.removeprefix("unix:")
        if not path.startswith("/"):
            raise ValueError(f"listen address {address!r}: the unix socket path must be absolute")
        return Listener(f"unix://{path}")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"listen address {address!r} must be unix:///path or host:port")
    bare = host.strip("[]")
    if not allow_remote and not _is_loopback(bare):
        raise ValueError(f"listen address {address!r} is not loopback; pass --allow-remote to listen beyond this host")
    return Listener(address)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SidecarServer:
    """A started gRPC server around one Sidecar; ``ports`` maps TCP addresses to bound ports."""

    def __init__(
        self,
        sidecar: Sidecar,
        listeners: list[Listener],
        socket_mode: int = 0o600,
        admin: AdminSettings | None = None,
        health_listen: str | None = None,
        mcp: McpHttpSettings | None = None,
        agent_tests: AgentTestSettings | None = None,
    ) -> None:
        """``admin``: host, port and token reference of the admin listener (/metrics and the dashboard), or None.
        ``health_listen``: host:port of a listener that serves grpc.health.v1 and nothing else
        (kubelet's grpc probes connect to the pod IP, while Invoke stays on the socket/loopback).
        ``mcp``: the Streamable HTTP MCP listener's settings, or None (the SDK is then never imported).
        ``agent_tests``: TestConnection over the listeners (on, once per API per 30 s, by default)."""
        self.sidecar = sidecar
        self.agent_tests = AgentConnectionTests(sidecar, agent_tests)
        self.listeners = listeners
        self.socket_mode = socket_mode
        self.admin: AdminServer | None = None
        if admin is not None:
            from .admin import AdminServer

            self.admin = AdminServer(sidecar, *admin)
        self.health_listen = health_listen
        self.health_server: grpc.aio.Server | None = None
        self.bound: list[str] = []
        self.bound_health = ""
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.mcp: McpHttpListener | None = None
        if mcp is not None:
            from .mcp.transports.http import McpHttpListener

            self.mcp = McpHttpListener(sidecar, mcp)

    def _make_server(self) -> grpc.aio.Server:
        """Built inside the running loop: grpc.aio binds a server to the loop it was made in."""
        limit_in = self.sidecar.max_request_bytes * 2 + MESSAGE_OVERHEAD_BYTES  # a body may arrive as JSON text
        limit_out = max(self.sidecar.max_response_bytes + MESSAGE_OVERHEAD_BYTES, MAX_DESCRIBE_BYTES)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit_in),
                ("grpc.max_send_message_length", limit_out),
                ("grpc.so_reuseport", 0),
                ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
                ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
            ]
        )
        servicer = CustomApiSidecarServicer(self.sidecar, self.agent_tests)
        add_servicer(servicer, server)  # undecodable bytes: INVALID_ARGUMENT
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_reflection((SERVICE_NAME, health.SERVICE_NAME), server)
        return server

    async def start(self) -> None:
        for listener in self.listeners:  # before anything else starts: a clear error, nothing half-open
            if listener.socket_path:
                _check_socket_path(listener.socket_path)
        await self.sidecar.start()
        if self.admin is not None:
            try:
                await self.admin.start()
            except OSError as exc:
                raise ListenError(f"cannot listen on the admin address: {exc.strerror or exc}") from exc
        if self.mcp is not None:
            try:
                await self.mcp.start()
            except OSError as exc:
                raise ListenError(f"cannot listen on the MCP address: {exc.strerror or exc}") from exc
        self.server = server = self._make_server()
        for listener in self.listeners:
            path = listener.socket_path
            if path is None:
                port = _add_port(server, listener.address)
                host = listener.address.rpartition(":")[0]
                self.bound.append(f"{host}:{port}")
                continue
            _remove_stale_socket(path)
            old = os.umask(0o777 & ~self.socket_mode)  # the socket is born with the right mode
            try:
                _add_port(server, listener.address)
            finally:
                os.umask(old)
            self.bound.append(listener.address)
        if self.health_listen:
            self.health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)  # the same statuses
            port = _add_port(self.health_server, self.health_listen)
            self.bound_health = f"{self.health_listen.rpartition(':')[0]}:{port}"
            await self.health_server.start()
        await server.start()
        for listener in self.listeners:
            if listener.socket_path:
                os.chmod(listener.socket_path, self.socket_mode)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish within ``grace`` seconds, then close."""
        await self.health.enter_graceful_shutdown()
        mcp_closed = asyncio.create_task(self.mcp.aclose(grace)) if self.mcp is not None else None  # drains alongside
        if self.server is not None:
            await self.server.stop(grace)
        await self.agent_tests.aclose()
        if mcp_closed is not None:
            await mcp_closed
        if self.admin is not None:
            await self.admin.aclose()
        if self.health_server is not None:
            await self.health_server.stop(0)
        await self.sidecar.aclose()
        for listener in self.listeners:
            if listener.socket_path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(listener.socket_path)


def _add_port(server: grpc.aio.Server, address: str) -> int:
    try:
        return server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc reports every bind failure this way
        raise ListenError(f"cannot listen on {address}: in use, or the directory is missing or not writable") from exc


def _check_socket_path(path: str) -> None:
    if not os.path.isdir(os.path.dirname(path)):
        raise ListenError(f"cannot listen on unix://{path}: the directory {os.path.dirname(path)} does not exist")
    _remove_stale_socket(path)


def _remove_stale_socket(path: str) -> None:
    """Unlink a socket left by a dead process; refuse to steal one that is still served."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return  # not ours to delete; binding will fail with a clear message
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
            return
    raise ListenError(f"cannot listen on unix://{path}: another process is serving it")


def run(main: Coroutine[Any, Any, R]) -> R:
    """Run ``main`` on uvloop when it is installed (measured faster for gRPC and HTTP), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def serve(
    sidecar: Sidecar,
    listeners: list[Listener] | None = None,
    grace: float = 10.0,
    socket_mode: int = 0o600,
    announce: Callable[[str], None] = print,
    admin: AdminSettings | None = None,
    health_listen: str | None = None,
    config_path: str | None = None,
    mcp: McpHttpSettings | None = None,
    agent_tests: AgentTestSettings | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return. With ``config_path``, the file is
    watched and reloaded when it changes, and on SIGHUP. With ``mcp``, the operations are MCP
    tools too (Streamable HTTP). ``agent_tests``: TestConnection for the agent (on by default)."""
    server = SidecarServer(
        sidecar, listeners or [Listener(DEFAULT_TARGET)], socket_mode, admin, health_listen, mcp, agent_tests
    )
    try:
        await server.start()
    except (ListenError, StartupError):
        await sidecar.aclose()
        raise
    apis = ", ".join(f"{name} ({len(api.operations)} operations)" for name, api in sidecar.registry.apis.items())
    announce(f"custom-api-sidecar listening on {', '.join(server.bound)}")
    announce(f"environment {sidecar.environment!r}; serving {len(sidecar.registry.apis)} APIs: {apis}")
    if server.bound_health:
        announce(f"health (grpc.health.v1 only) on {server.bound_health}")
    if server.admin is not None:
        host = admin[0] if admin else ""
        announce(f"admin: dashboard and /metrics on http://{host}:{server.admin.bound_port}/")
    if server.mcp is not None:
        announce(f"mcp: {server.mcp.describe()}")
    if not server.agent_tests.settings.enabled:
        announce("TestConnection from the agent: off (--agent-test-connection off)")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    reloader = ConfigReloader(sidecar, config_path) if config_path else None
    if reloader is not None:
        await reloader.start()
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
        announce(f"watching {config_path} for changes (and reloading on SIGHUP)")
    await stopping.wait()
    announce(f"shutting down: draining in-flight calls for up to {grace:g} s")
    if reloader is not None:
        await reloader.aclose()
    await server.stop(grace)
    announce("stopped")
