"""One Invoke, whoever asks: the gRPC servicer and the MCP server both answer through ``invoke``,
so a call runs the same pipeline (binding, validation, auth, egress, limits, breaker, tracing,
audit) and gets the same answer shape whichever protocol carried it; and through ``get_job`` for
a background call's state and outcome."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from custom_api_client.proto import sidecar_pb2 as pb

from ._text import shown
from .errors import SidecarError

if TYPE_CHECKING:
    from .app import Sidecar
    from .pipeline import Call

__all__ = ["get_job", "invoke"]

MAX_JOB_ID_CHARS = 64  # ids are 32 hex digits (uuid4)


async def invoke(sidecar: Sidecar, call: Call) -> pb.InvokeResponse:
    """The upstream's answer (a 4xx/5xx included), or 202 with a job id for a background call.
    A failure with no upstream answer raises SidecarError. Admission comes first (caller bounds,
    then the in-flight cap): a refused call costs no lookup, span, record or metric series."""
    admission = sidecar.admission
    admission.enter(call.request)
    try:
        if sidecar.wants_background(call.request):
            job_id = await sidecar.submit(call)
            return pb.InvokeResponse(
                status_code=202,
                reason="Accepted",
                headers=[pb.KeyValue(key="Content-Type", value="application/json")],
                body=json.dumps({"job_id": job_id, "state": "queued"}).encode(),
                job_id=job_id,
            )
        response = await sidecar.handle(call)
        return response.to_proto()
    finally:
        admission.leave()


async def get_job(sidecar: Sidecar, job_id: str) -> pb.GetJobResponse:
    """A background job's state and, once finished, its response or error; JOB_NOT_FOUND when
    this sidecar (or, in fleet mode, the fleet) has no such job, or keeps no jobs at all, or
    (fleet mode) its record in Redis failed the seal check (the message says so)."""
    if len(job_id) > MAX_JOB_ID_CHARS:  # before any lookup (SQLite or Redis)
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            f"job id {shown(job_id)} is {len(job_id)} characters; ids are at most {MAX_JOB_ID_CHARS}",
            field="job_id",
        )
    job = await sidecar.jobs.get(job_id) if sidecar.jobs is not None else None
    if job is None:
        raise SidecarError(pb.ErrorCode.JOB_NOT_FOUND, f"no background job {shown(job_id)}")
    reply = pb.GetJobResponse(
        job_id=job.id,
        state=job.state,
        attempts=job.attempts,
        created_at=job.created_at,
        updated_at=job.updated_at,
        api=job.api,
        operation=job.operation,
    )
    if job.response is not None:
        reply.response.ParseFromString(job.response)
    if job.error is not None:
        reply.error.ParseFromString(job.error)
    return reply
