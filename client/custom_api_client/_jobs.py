"""``conv.api.jobs``: background calls' state and, once run, their Response or error."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from typing import Any

from ._response import Response, from_invoke_response
from .errors import CustomApiError, Timeout, from_error_detail

FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class Job:
    id: str
    state: str  # queued | running | succeeded | failed
    api: str
    operation: str
    attempts: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    response: Response | None  # succeeded: the upstream's answer (any status, as for a call)
    error: CustomApiError | None  # failed: what a call would have raised

    @property
    def done(self) -> bool:
        """The job has finished: ``response`` or ``error`` is set."""
        return self.state in FINISHED


def job_from_reply(reply: Any) -> Job:
    return Job(
        id=reply.job_id,
        state=reply.state,
        api=reply.api,
        operation=reply.operation,
        attempts=reply.attempts,
        created_at=datetime.datetime.fromtimestamp(reply.created_at, datetime.UTC),
        updated_at=datetime.datetime.fromtimestamp(reply.updated_at, datetime.UTC),
        response=from_invoke_response(reply.response) if reply.HasField("response") else None,
        error=from_error_detail(reply.error) if reply.HasField("error") else None,
    )


class Jobs:
    def __init__(self, conv: Any) -> None:
        self._conv = conv

    def get(self, job_id: str) -> Job:
        """The job now (JobNotFound for an unknown id, or one queued in another conversation)."""
        return job_from_reply(self._conv._get_job(job_id))

    def wait(self, job_id: str, timeout: float = 30.0, interval: float = 0.2) -> Job:
        """Poll until the job is done; Timeout after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not (job := self.get(job_id)).done:
            if time.monotonic() > deadline:
                raise Timeout(f"background job {job_id} still {job.state} after {timeout:g} s")
            time.sleep(interval)
        return job


class AsyncJobs:
    def __init__(self, conv: Any) -> None:
        self._conv = conv

    async def get(self, job_id: str) -> Job:
        return job_from_reply(await self._conv._get_job(job_id))

    async def wait(self, job_id: str, timeout: float = 30.0, interval: float = 0.2) -> Job:
        deadline = time.monotonic() + timeout
        while not (job := await self.get(job_id)).done:
            if time.monotonic() > deadline:
                raise Timeout(f"background job {job_id} still {job.state} after {timeout:g} s")
            await asyncio.sleep(interval)
        return job
