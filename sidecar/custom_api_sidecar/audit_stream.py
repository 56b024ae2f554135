"""The audit stream's buffer and writer: bounded memory, and calls never wait on the sink.

``put`` (the call path) appends one encoded line to a memory buffer and returns. A writer thread
writes the buffer out every ``flush_interval`` seconds (sooner when it is half full). When the sink
does not keep up (a FIFO nobody reads, a stalled log pipe, a full disk) the buffer stops at
``max_buffer_bytes``: the oldest lines are dropped past it, counted in
``custom_api_sidecar.audit.dropped``, and one WARNING says so; another only after the writer has
caught up again (an INFO line says when, and how many were lost). So memory stays flat, the
newest records are the ones kept, and the sink's reader gets them when it comes back.

Neither opening nor writing can block the event loop, or the writer for longer than
``flush_interval``: a path is opened with ``O_NONBLOCK`` (a FIFO with no reader yet is opened
later, when one appears), writes to a pipe wait in ``poll`` and then write only what fits, and
``aclose`` gives the writer ``close_timeout`` seconds to write what is left, then returns
whatever the sink does (what could not be written is counted as dropped).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Iterable

from opentelemetry import metrics

from .metrics import METER_NAME

log = logging.getLogger("custom_api_sidecar.audit")
DEFAULT_MAX_BUFFER_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024  # written at once to a file or to our own non-blocking FIFO
# A blocking pipe we do not own (stdout) is written only after poll says it has room, and at
# most this much at once: Linux then never blocks (a write up to PIPE_BUF fits in a free slot).
PIPE_WRITE_BYTES = select.PIPE_BUF


class AuditStream:
    """JSON lines to ``destination`` ("-" for stdout, else a path: a file, or a FIFO)."""

    def __init__(
        self,
        destination: str = "-",
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        flush_interval: float = 0.2,
        close_timeout: float = 2.0,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if max_buffer_bytes < 1:
            raise ValueError(f"max_buffer_bytes must be positive (got {max_buffer_bytes})")
        self.destination = destination
        self.max_buffer_bytes = max_buffer_bytes
        self._interval = flush_interval
        self._close_timeout = close_timeout
        self._lines: collections.deque[bytes] = collections.deque()
        self._buffered = 0  # bytes in _lines
        self._lock = threading.Lock()  # the buffer: put() runs on the loop, or on another thread
        self._write_lock = threading.Lock()  # one writer at a time: the thread, or flush()
        self._carry = b""  # taken from the buffer, not yet written (at most one chunk)
        self._fd: int | None = None
        self._own_fd = False
        self._pipe_unowned = False  # a blocking pipe we did not open: poll, then small writes
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.dropped = 0  # records dropped since start (the counter's value)
        self._stalled = False  # dropping now; the WARNING was said
        self._stall_dropped = 0
        self._write_failing = False  # a write error was said
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        meter.create_observable_counter(
            "custom_api_sidecar.audit.dropped",
            callbacks=[self._observe_dropped],
            unit="{record}",
            description="Audit records dropped because the audit sink did not keep up (oldest first)",
        )

    # --- the call path ------------------------------------------------------------------

    def put(self, line: bytes) -> None:
        """Buffer one line (with its newline); drop the oldest past the budget. Never blocks on the sink."""
        dropped, first = 0, False
        with self._lock:
            half = self.max_buffer_bytes // 2
            was_half_full = self._buffered > half
            self._lines.append(line)
            self._buffered += len(line)
            while self._buffered > self.max_buffer_bytes:
                self._buffered -= len(self._lines.popleft())
                dropped += 1
            # once per crossing, not per record: a stalled sink must not make the writer spin
            half_full = not was_half_full and self._buffered > half
            if dropped:
                self.dropped += dropped
                self._stall_dropped += dropped
                first = not self._stalled
                self._stalled = True
        if half_full:
            self._wake.set()
        if dropped and first:
            log.warning(
                "audit stream %s is not keeping up: dropping the oldest records past %d bytes of buffer "
                "(counted in custom_api_sidecar.audit.dropped); calls go on without waiting for it",
                self._name,
                self.max_buffer_bytes,
            )

    @property
    def buffered_bytes(self) -> int:
        return self._buffered + len(self._carry)

    # --- lifetime -----------------------------------------------------------------------

    def start(self) -> None:
        """Open the destination (never blocks) and start the writer. OSError if it cannot be opened,
        except a FIFO with no reader yet: that is opened when a reader appears."""
        if self.destination == "-":
            self._fd, self._own_fd = _stdout_fd(), False
            mode = os.fstat(self._fd).st_mode
            self._pipe_unowned = os.get_blocking(self._fd) and not stat.S_ISREG(mode)
        elif not self._open():
            log.info(
                "audit stream %s: no reader on the FIFO yet; records wait in the buffer (%d bytes, the oldest "
                "dropped past it) until one appears",
                self._name,
                self.max_buffer_bytes,
            )
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def _open(self) -> bool:
        """Open a path without blocking; False for a FIFO with no reader (ENXIO)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            self._fd = os.open(self.destination, flags, 0o640)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return False
            raise
        self._own_fd = True
        return True

    def flush(self, timeout: float = 10.0) -> None:
        """Write what is buffered now, waiting up to ``timeout`` seconds for the sink (tests, one-shot commands)."""
        self._drain(time.monotonic() + timeout)

    async def aclose(self) -> None:
        """Let the writer write what is left for up to ``close_timeout`` seconds, then stop."""
        self._stopping = True
        self._wake.set()
        if self._thread is None:
            return
        await asyncio.to_thread(self._thread.join, self._close_timeout + 1.0)
        if self._thread.is_alive():  # only a sink that blocks where poll said it had room (not Linux pipes)
            log.warning("audit stream %s: the writer did not stop within %gs", self._name, self._close_timeout)

    # --- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain(time.monotonic() + self._interval)
        self._drain(time.monotonic() + self._close_timeout)
        with self._lock:
            left = len(self._lines) + (1 if self._carry else 0)
            self._lines.clear()
            self._buffered = 0
            self._carry = b""
            self.dropped += left
        if left:
            log.warning(
                "audit stream %s: %d records could not be written within %gs of closing; dropped",
                self._name,
                left,
                self._close_timeout,
            )
        if self._own_fd and self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _drain(self, deadline: float) -> None:
        """Write until the buffer is empty, the sink has no room until ``deadline``, or it fails."""
        with self._write_lock:
            while True:
                fd = self._fd if self._fd is not None else self._reopen()
                if fd is None:
                    return
                if not self._carry:
                    self._carry = self._take(CHUNK_BYTES)
                    if not self._carry:
                        self._caught_up()
                        return
                if not self._room(fd, deadline):
                    return
                try:
                    written = os.write(fd, self._carry[: PIPE_WRITE_BYTES if self._pipe_unowned else None])
                except BlockingIOError:
                    written = 0
                except OSError as exc:
                    self._write_failed(exc)
                    return
                self._carry = self._carry[written:]
                self._write_failing = False

    def _take(self, size: int) -> bytes:
        with self._lock:
            parts: list[bytes] = []
            taken = 0
            while self._lines and taken < size:
                line = self._lines.popleft()
                parts.append(line)
                taken += len(line)
            self._buffered -= taken
        return b"".join(parts)

    @staticmethod
    def _room(fd: int, deadline: float) -> bool:
        """Wait (up to ``deadline``) until the sink can take a write; regular files always can."""
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while True:
            if poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                return True  # room, or an error that the write will report
            if time.monotonic() >= deadline:
                return False

    def _reopen(self) -> int | None:
        """A path whose FIFO had no reader (or lost it): try again."""
        if self.destination == "-" or self._thread is None:
            return None
        try:
            self._open()
        except OSError as exc:
            self._write_failed(exc)
        return self._fd

    def _write_failed(self, exc: OSError) -> None:
        if not self._write_failing:
            self._write_failing = True
            log.warning(
                "audit stream %s: cannot write (%s); records wait in the buffer, the oldest dropped past %d bytes",
                self._name,
                exc.strerror or type(exc).__name__,
                self.max_buffer_bytes,
            )
        if exc.errno == errno.EPIPE and self._own_fd and self._fd is not None:
            os.close(self._fd)  # the FIFO's reader went away: open it again when another appears
            self._fd = None

    def _caught_up(self) -> None:
        with self._lock:
            if not self._stalled or self._lines:
                return
            self._stalled = False
            lost, self._stall_dropped = self._stall_dropped, 0
        log.info("audit stream %s caught up; %d records were dropped while it was stalled", self._name, lost)

    def _observe_dropped(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(self.dropped)]

    @property
    def _name(self) -> str:
        return "stdout" if self.destination == "-" else self.destination


def _stdout_fd() -> int:
    """Written with os.write, not through sys.stdout: a blocked write must hold no Python lock."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor
        return 1
