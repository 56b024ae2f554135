"""``conv.log``: each entry is logged locally (the ``custom_api.conv`` logger) and sent to the
sidecar's audit stream with the Log RPC, beside the calls. Sending never blocks the agent for
more than a queue insert and never raises into it: the sync client hands entries to one
background thread through a bounded queue (a full queue drops the send, never the local log);
the asyncio client sends from a task. A sidecar that is down costs a local warning, once."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import grpc

from .proto import sidecar_pb2 as pb

_log = logging.getLogger("custom_api.conv")
SEND_TIMEOUT_SECONDS = 0.5
QUEUE_SIZE = 1000

Send = Callable[[pb.LogRequest, tuple[tuple[str, str], ...] | None], None]


class _Base:
    def __init__(self, metadata: Callable[[], tuple[tuple[str, str], ...] | None]) -> None:
        self._metadata = metadata
        self._warned = False

    def info(self, message: str, *args: Any) -> None:
        self._entry(logging.INFO, "info", message, args)

    def warning(self, message: str, *args: Any) -> None:
        self._entry(logging.WARNING, "warning", message, args)

    def error(self, message: str, *args: Any) -> None:
        self._entry(logging.ERROR, "error", message, args)

    def _entry(self, level: int, name: str, message: str, args: tuple[Any, ...]) -> None:
        _log.log(level, message, *args)
        try:
            text = message % args if args else str(message)
        except (TypeError, ValueError):
            text = f"{message} {args!r}"
        self._ship(pb.LogRequest(level=name, message=text), self._metadata())

    def _ship(self, request: pb.LogRequest, metadata: tuple[tuple[str, str], ...] | None) -> None:
        raise NotImplementedError

    def _failed(self, exc: BaseException) -> None:
        if not self._warned:  # once: the local log already has every entry
            self._warned = True
            _log.warning("conv.log entries are not reaching the sidecar (%s); they are logged locally", exc)


class ConvLog(_Base):
    """The synchronous client's ``conv.log``."""

    def __init__(self, stub: Any, metadata: Callable[[], tuple[tuple[str, str], ...] | None]) -> None:
        super().__init__(metadata)
        self._stub = stub
        self._queue: queue.Queue[tuple[pb.LogRequest, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ship(self, request: pb.LogRequest, metadata: tuple[tuple[str, str], ...] | None) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="conv.log", daemon=True)
                    self._thread.start()
        try:
            self._queue.put_nowait((request, metadata))
        except queue.Full:
            self._failed(RuntimeError("too many entries waiting"))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request, metadata = item
            try:
                self._stub.Log(request, timeout=SEND_TIMEOUT_SECONDS, metadata=metadata)
                self._warned = False
            except grpc.RpcError as exc:
                self._failed(exc)
            except Exception as exc:  # never let the thread die
                self._failed(exc)

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (bounded) until queued entries are sent; ``close()`` does this."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
            self._thread = None


class AsyncConvLog(_Base):
    """The asyncio client's ``conv.log``: same calls, sent from a task."""

    def __init__(self, stub: Callable[[], Any], metadata: Callable[[], tuple[tuple[str, str], ...] | None]) -> None:
        super().__init__(metadata)
        self._stub = stub
        self._tasks: set[asyncio.Task[None]] = set()

    def _ship(self, request: pb.LogRequest, metadata: tuple[tuple[str, str], ...] | None) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._send(request, metadata))
        except RuntimeError:  # no running loop: the local log is all there is
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, request: pb.LogRequest, metadata: tuple[tuple[str, str], ...] | None) -> None:
        try:
            await self._stub().Log(request, timeout=SEND_TIMEOUT_SECONDS, metadata=metadata)
            self._warned = False
        except Exception as exc:
            self._failed(exc)

    async def flush(self) -> None:
        """Wait (at most 2 s) until entries in flight are sent; ``close()`` does this."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
