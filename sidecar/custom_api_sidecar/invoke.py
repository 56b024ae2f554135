"""One Invoke, whoever asks: the gRPC servicer and the MCP server both answer through ``invoke``,
so a call runs the same pipeline (binding, validation, auth, egress, limits, breaker, tracing,
audit) and gets the same answer shape whichever protocol carried it; and through ``get_job`` for
a background call's state and outcome, which is also the one place that decides who may read a job.

A job belongs to the conversation its call was made in (metadata ``x-conversation-id``, checked
before the job is stored, and kept with it: sealed, in fleet mode). Only a caller in that same
conversation finds it; for anyone else it does not exist: the same JOB_NOT_FOUND, word for word,
as an id that was never issued, so the answer tells nothing about other conversations' jobs. A job
queued without a conversation id is found by anyone, as before conversation ids existed. This
keeps conversations apart; it is not authentication: whoever can reach the listener and knows a
job id and its conversation id can read it."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from custom_api_client.proto import sidecar_pb2 as pb

from ._text import shown
from .errors import SidecarError
from .pipeline.context import conversation_of, read_context

if TYPE_CHECKING:
    from .app import Sidecar
    from .jobs import Job
    from .pipeline import Call

__all__ = ["get_job", "invoke", "job_not_found"]

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


async def get_job(sidecar: Sidecar, job_id: str, metadata: tuple[tuple[str, object], ...]) -> pb.GetJobResponse:
    """A background job's state and, once finished, its response or error, for a caller whose call
    metadata is ``metadata``. JOB_NOT_FOUND when this sidecar (or, in fleet mode, the fleet) has no
    such job, or keeps no jobs at all, or the job belongs to another conversation (the same answer),
    or (fleet mode) its record in Redis failed the seal check (the message says so)."""
    if len(job_id) > MAX_JOB_ID_CHARS:  # before any lookup (SQLite or Redis)
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            f"job id {shown(job_id)} is {len(job_id)} characters; ids are at most {MAX_JOB_ID_CHARS}",
            field="job_id",
        )
    conversation_id, _ = read_context(metadata)  # a malformed id is INVALID_ARGUMENT, whatever the job
    job = await sidecar.jobs.get(job_id) if sidecar.jobs is not None else None
    if job is None or not readable_in(job, conversation_id):
        raise job_not_found(job_id)
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


def readable_in(job: Job, conversation_id: str) -> bool:
    """Whether a caller in ``conversation_id`` ("" for none) may read ``job``."""
    owner = conversation_of(job.metadata)
    if owner is None:
        return True  # queued without a conversation id: anyone's, as before conversations were checked
    # An owner no caller could send (stored before submissions were checked) matches no one.
    return bool(conversation_id) and hmac.compare_digest(_utf8(owner), _utf8(conversation_id))


def job_not_found(job_id: str) -> SidecarError:
    """The one answer for a job the caller may not see, whatever the reason (no oracle)."""
    return SidecarError(pb.ErrorCode.JOB_NOT_FOUND, f"no background job {shown(job_id)}")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a stored value is any str JSON could hold
