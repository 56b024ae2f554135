"""A prototype local fast path (benchmark only, not in the product): the sidecar's own protobuf
messages over a unix socket with length-prefixed frames instead of gRPC/HTTP2.

Frame: ``>IIB`` (length of what follows the length field, call id, type), then the body.
- INVOKE (client -> sidecar): ``>d`` timeout seconds (0: none), ``>H`` metadata count, each
  ``>H`` key length, key, ``>I`` value length, value (UTF-8; ``-bin`` keys raw), then InvokeRequest.
- CANCEL (client -> sidecar): no body; the call's task is cancelled.
- RESPONSE: InvokeResponse. ERROR: ``>B`` gRPC status code, ``>H`` details length, details,
  then the ErrorDetail (as the gRPC trailer carries it).
Calls are multiplexed on one connection by call id.

``python -m bench._fastpath FAST_SOCKET serve ...`` runs ``custom-api-sidecar serve ...`` with the
fast listener beside its gRPC listeners, so both transports reach the same sidecar.
``python -m bench._fastpath --floor FAST_SOCKET`` serves a canned response with no sidecar: the
raw-socket floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from custom_api_client.proto import sidecar_pb2 as pb

INVOKE, CANCEL, RESPONSE, ERROR = 1, 2, 3, 4
_HEAD = struct.Struct(">IIB")
_LEN = struct.Struct(">I")


def frame(call_id: int, kind: int, body: bytes) -> bytes:
    return _HEAD.pack(len(body) + 5, call_id, kind) + body


def encode_invoke(request: bytes, metadata: tuple[tuple[str, str | bytes], ...], timeout: float) -> bytes:
    parts = [struct.pack(">dH", timeout, len(metadata))]
    for key, value in metadata:
        raw = value if isinstance(value, bytes) else value.encode()
        k = key.encode()
        parts.append(struct.pack(">H", len(k)) + k + _LEN.pack(len(raw)) + raw)
    parts.append(request)
    return b"".join(parts)


def decode_invoke(body: bytes) -> tuple[float, tuple[tuple[str, Any], ...], bytes]:
    timeout, count = struct.unpack_from(">dH", body)
    at, metadata = 10, []
    for _ in range(count):
        (klen,) = struct.unpack_from(">H", body, at)
        key = body[at + 2 : at + 2 + klen].decode()
        at += 2 + klen
        (vlen,) = _LEN.unpack_from(body, at)
        raw = body[at + 4 : at + 4 + vlen]
        at += 4 + vlen
        metadata.append((key, raw if key.endswith("-bin") else raw.decode()))
    return timeout, tuple(metadata), body[at:]


class _Frames(asyncio.Protocol):
    """Splits the byte stream into frames and hands each to ``on_frame``."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while len(buf) >= 4:
            (length,) = _LEN.unpack_from(buf)
            if len(buf) < 4 + length:
                return
            _, call_id, kind = _HEAD.unpack_from(buf)
            body = bytes(buf[9 : 4 + length])
            del buf[: 4 + length]
            self.on_frame(call_id, kind, body)

    def on_frame(self, call_id: int, kind: int, body: bytes) -> None:
        raise NotImplementedError


class _SidecarProtocol(_Frames):
    def __init__(self, sidecar: Any) -> None:
        super().__init__()
        self.sidecar = sidecar
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def on_frame(self, call_id: int, kind: int, body: bytes) -> None:
        if kind == INVOKE:
            self.tasks[call_id] = asyncio.get_running_loop().create_task(self.invoke(call_id, body))
        elif kind == CANCEL and (task := self.tasks.get(call_id)) is not None:
            task.cancel()

    async def invoke(self, call_id: int, body: bytes) -> None:
        from custom_api_sidecar.errors import SidecarError
        from custom_api_sidecar.pipeline import Call

        timeout, metadata, raw = decode_invoke(body)
        request = pb.InvokeRequest.FromString(raw)
        try:
            async with asyncio.timeout(timeout or None):
                response = await self.sidecar.handle(
                    Call(request=request, metadata=metadata, time_remaining=timeout or None)
                )
            reply = response.to_proto()
            out = frame(call_id, RESPONSE, reply.SerializeToString())
        except SidecarError as err:
            out = _error(call_id, err.grpc_status.value[0], err.message, err.detail().SerializeToString())
        except TimeoutError:
            out = _error(call_id, 4, "Deadline Exceeded", b"")  # DEADLINE_EXCEEDED
        except asyncio.CancelledError:
            return
        finally:
            self.tasks.pop(call_id, None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self.tasks.values():  # the caller is gone: as gRPC does, cancel its calls
            task.cancel()


def _error(call_id: int, status: int, details: str, detail: bytes) -> bytes:
    text = details.encode()
    return frame(call_id, ERROR, struct.pack(">BH", status, len(text)) + text + detail)


class _FloorProtocol(_Frames):
    """Decodes the request like the sidecar would, answers the canned response."""

    def on_frame(self, call_id: int, kind: int, body: bytes) -> None:
        if kind == INVOKE:
            _, _, raw = decode_invoke(body)
            pb.InvokeRequest.FromString(raw)
            assert self.transport is not None
            self.transport.write(frame(call_id, RESPONSE, _canned()))


def _canned() -> bytes:
    from ._floor import RESPONSE as CANNED

    global _CANNED
    if _CANNED is None:
        _CANNED = CANNED.SerializeToString()
    return _CANNED


_CANNED: bytes | None = None


async def listen(path: str, protocol: Callable[[], asyncio.Protocol]) -> asyncio.AbstractServer:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return await asyncio.get_running_loop().create_unix_server(protocol, path)


# --- clients ------------------------------------------------------------------------------


class FastClient:
    """asyncio client: ``await client.invoke(request, metadata, timeout)`` -> InvokeResponse (raises FastError)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._next = 0
        self._waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._transport: asyncio.Transport | None = None

    async def _connect(self) -> asyncio.Transport:
        client = self

        class Reader(_Frames):
            def on_frame(self, call_id: int, kind: int, body: bytes) -> None:
                future = client._waiting.pop(call_id, None)
                if future is not None and not future.done():
                    future.set_result((kind, body))

        transport, _ = await asyncio.get_running_loop().create_unix_connection(Reader, self.path)
        self._transport = transport
        return transport

    async def invoke(
        self, request: pb.InvokeRequest, metadata: tuple[tuple[str, str], ...] = (), timeout: float = 0.0
    ) -> pb.InvokeResponse:
        transport = self._transport or await self._connect()
        self._next += 1
        call_id = self._next
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        transport.write(frame(call_id, INVOKE, encode_invoke(request.SerializeToString(), metadata, timeout)))
        try:
            kind, body = await future
        except asyncio.CancelledError:
            self._waiting.pop(call_id, None)
            transport.write(frame(call_id, CANCEL, b""))
            raise
        return _reply(kind, body)


class FastError(Exception):
    def __init__(self, status: int, details: str, detail: bytes) -> None:
        super().__init__(details)
        self.status, self.details, self.detail = status, details, detail


def _reply(kind: int, body: bytes) -> pb.InvokeResponse:
    if kind == RESPONSE:
        return pb.InvokeResponse.FromString(body)
    status, length = struct.unpack_from(">BH", body)
    raise FastError(status, body[3 : 3 + length].decode(), body[3 + length :])


class SyncFastClient:
    """Blocking client for the sequential shape (one call at a time)."""

    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.connect(path)
        self._file = self._sock.makefile("rb")

    def invoke(
        self, request: pb.InvokeRequest, metadata: tuple[tuple[str, str], ...] = (), timeout: float = 0.0
    ) -> pb.InvokeResponse:
        self._sock.sendall(frame(1, INVOKE, encode_invoke(request.SerializeToString(), metadata, timeout)))
        head = self._file.read(9)
        length, _, kind = _HEAD.unpack(head)
        return _reply(kind, self._file.read(length - 5))

    def close(self) -> None:
        self._file.close()
        self._sock.close()


# --- entry points ---------------------------------------------------------------------------


async def _floor(path: str) -> None:
    server = await listen(path, _FloorProtocol)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


def _serve_sidecar(fast_socket: str, argv: list[str]) -> int:
    """``custom-api-sidecar serve ...`` as the CLI runs it, plus the fast listener on the same loop."""
    from custom_api_sidecar import cli, server

    original: Callable[..., Awaitable[None]] = server.serve

    async def serve_with_fast_path(sidecar: Any, *args: Any, **kwargs: Any) -> None:
        listener = await listen(fast_socket, lambda: _SidecarProtocol(sidecar))
        try:
            await original(sidecar, *args, **kwargs)
        finally:
            listener.close()

    server.serve = serve_with_fast_path  # type: ignore[assignment]  # the CLI imports it at call time
    if os.environ.get("BENCH_GC") == "off":
        import gc

        gc.disable()
    return cli.main(argv)


if __name__ == "__main__":
    if sys.argv[1] == "--floor":
        import uvloop

        uvloop.run(_floor(sys.argv[2]))
    else:
        sys.exit(_serve_sidecar(sys.argv[1], sys.argv[2:]))
