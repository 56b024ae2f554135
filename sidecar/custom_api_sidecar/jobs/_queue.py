"""Background calls (seed 003's "run in background"): stored durably before they are
acknowledged, run by a bounded pool of workers through the same pipeline as any call, retried
while the failure is transient, and resumed after a restart or a crash (at least once: each job
carries a stable ``Idempotency-Key`` so the upstream can recognise a repeat).

A full store (``JobStoreFull``) refuses a new call with OVERLOADED before it is acknowledged,
and fails a job whose response it cannot keep with RESPONSE_TOO_LARGE: that call was made, so
the job must not stay running and be sent again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable

from custom_api_client.proto import sidecar_pb2 as pb

from .._aio import wait_event
from ..errors import SidecarError
from ..pipeline import Call, UpstreamResponse
from ._store import FAILED, SUCCEEDED, Job, JobStore, JobStoreFull

log = logging.getLogger("custom_api_sidecar.jobs")
# Failures that may pass: the job is tried again later. Any other error, or an HTTP answer, is final.
TRANSIENT = frozenset(
    {
        pb.ErrorCode.CONNECTION_REFUSED,
        pb.ErrorCode.ENDPOINT_NOT_FOUND,
        pb.ErrorCode.TIMEOUT,
        pb.ErrorCode.UPSTREAM_PROTOCOL_ERROR,
        pb.ErrorCode.CIRCUIT_OPEN,
        pb.ErrorCode.RATE_LIMITED,
        pb.ErrorCode.CREDENTIALS_UNAVAILABLE,
        pb.ErrorCode.AUTHENTICATION_FAILED,  # the token endpoint may be down
    }
)
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"
STORE_RETRY_S = 5.0  # a failing store is tried again this often (and logged no more often)


class JobQueue:
    def __init__(
        self,
        store: JobStore,
        run: Callable[[Call], Awaitable[UpstreamResponse]],
        concurrency: int = 4,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        retention: float = 86_400.0,
        prune_every: float = 600.0,
    ) -> None:
        """``run`` is the sidecar's pipeline; ``concurrency`` bounds the jobs running at once;
        a job is tried at most ``max_attempts`` times, ``backoff`` doubling up to ``max_backoff``
        seconds between tries (full jitter); finished jobs are kept ``retention`` seconds, and
        forgotten at the start and every ``prune_every`` seconds (a store's room comes back)."""
        self.store = store
        self._run = run
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._backoff, self._max_backoff = backoff, max_backoff
        self._retention = retention
        self._prune_every = prune_every
        self._next_prune = 0.0
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open()
        resumed = await self.store.recover()
        if resumed:
            log.warning("background jobs: %d were running when the sidecar stopped; running them again", resumed)
        await self._prune()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="background-jobs")

    async def submit(self, request: pb.InvokeRequest, metadata: tuple[tuple[str, str], ...]) -> str:
        """Store the call (durably) and return its job id; it runs soon after."""
        job_id = uuid.uuid4().hex
        stored = pb.InvokeRequest()
        stored.CopyFrom(request)
        stored.background = False  # when it runs, it runs now
        if not any(h.key.lower() == IDEMPOTENCY_HEADER.lower() for h in stored.headers):
            stored.headers.add(key=IDEMPOTENCY_HEADER, value=job_id)  # stable across every try
        try:
            await self.store.add(job_id, request.api, request.operation, stored.SerializeToString(), metadata)
        except JobStoreFull:
            log.error("background jobs: the store is full; a %s.%s call was refused", request.api, request.operation)
            raise SidecarError(
                pb.ErrorCode.OVERLOADED,  # retryable, and nothing was sent
                "the background job store is full, so the call was not queued: try again later, "
                "or make the call without background",
                api=request.api,
                operation=request.operation,
            ) from None
        self._wake.set()
        return job_id

    async def get(self, job_id: str) -> Job | None:
        return await self.store.get(job_id)

    async def _prune(self) -> None:
        await self.store.prune(time.time() - self._retention)
        self._next_prune = time.monotonic() + self._prune_every

    async def _dispatch(self) -> None:
        while True:
            try:
                await self._dispatch_once()
            except Exception as exc:  # a failing store: jobs wait in it, the dispatcher goes on
                log.error("background jobs: the store failed (%s: %s); trying again", type(exc).__name__, exc)
                await asyncio.sleep(STORE_RETRY_S)

    async def _dispatch_once(self) -> None:
        if time.monotonic() >= self._next_prune:
            await self._prune()
        while True:
            free = self._concurrency - len(self._running)
            jobs = await self.store.claim(free) if free > 0 else []
            for job in jobs:
                task = asyncio.create_task(self._execute(job))
                self._running.add(task)
                task.add_done_callback(self._done)
            if jobs and len(self._running) < self._concurrency:
                continue  # more may be due
            due = await self.store.next_due()
            wait = 5.0 if due is None else min(5.0, max(0.0, due - time.time()))
            wait = min(wait, max(0.0, self._next_prune - time.monotonic()))
            self._wake.clear()
            await wait_event(self._wake, wait)
            return

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a worker is free

    async def _execute(self, job: Job) -> None:
        try:
            await self._work(job)
        except Exception as exc:  # the outcome could not be recorded: say so, keep the worker pool going
            log.error(
                "background job %s (%s.%s): its outcome could not be recorded (%s: %s); it stays running "
                "and runs again after a restart",
                job.id,
                job.api,
                job.operation,
                type(exc).__name__,
                exc,
            )

    async def _work(self, job: Job) -> None:
        request = pb.InvokeRequest.FromString(job.request)
        call = Call(request=request, metadata=job.metadata, force_refresh=True)  # does the work: no cached answer
        name = f"{job.api}.{job.operation}"
        try:
            response = await self._run(call)
        except SidecarError as err:
            if err.code in TRANSIENT and job.attempts < self._max_attempts:
                await self._retry(job, err.code_name)
                return
            await self.store.finish(job.id, FAILED, None, err.detail().SerializeToString())
            log.warning(
                "background job %s (%s) failed after %d attempt(s): %s", job.id, name, job.attempts, err.code_name
            )
            return
        except Exception:  # a bug: the job fails, the worker goes on
            log.exception("background job %s (%s) crashed", job.id, name)
            detail = pb.ErrorDetail(code=pb.ErrorCode.INTERNAL, message="internal sidecar error")
            await self.store.finish(job.id, FAILED, None, detail.SerializeToString())
            return
        if response.status_code in TRANSIENT_STATUSES and job.attempts < self._max_attempts:
            await self._retry(job, f"HTTP {response.status_code}")
            return
        body = response.to_proto().SerializeToString()
        try:
            await self.store.finish(job.id, SUCCEEDED, body, None)
        except JobStoreFull:
            unkept = SidecarError(
                pb.ErrorCode.RESPONSE_TOO_LARGE,
                f"the call was made (HTTP {response.status_code}) but its response ({len(body)} bytes) did not "
                "fit in the background job store, which is full; make the call without background",
                api=job.api,
                operation=job.operation,
            )
            await self.store.finish(job.id, FAILED, None, unkept.detail().SerializeToString())
            log.error(
                "background job %s (%s): HTTP %d, but the store is full: its %d-byte response was dropped "
                "and the job failed (RESPONSE_TOO_LARGE)",
                job.id,
                name,
                response.status_code,
                len(body),
            )
            return
        log.info(
            "background job %s (%s) done: HTTP %d after %d attempt(s)", job.id, name, response.status_code, job.attempts
        )

    async def _retry(self, job: Job, why: str) -> None:
        delay = random.uniform(0, min(self._max_backoff, self._backoff * 2 ** (job.attempts - 1)))
        await self.store.requeue(job.id, delay)
        log.info("background job %s: %s on attempt %d; trying again in %.1f s", job.id, why, job.attempts, delay)
        self._wake.set()

    async def aclose(self) -> None:
        """Stop taking jobs; jobs still running stay marked running and run again at the next start."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self.store.close()
