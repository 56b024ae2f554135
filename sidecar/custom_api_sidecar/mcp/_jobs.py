"""The one tool that is not an operation: reading a background call's state and outcome.

A background tool call answers ``202`` with a job id; ``get_background_job(job_id)`` answers
with the job's state and, once it has run, what the call itself would have answered (the same
content, ``structuredContent`` and ``isError``). It is listed when the server keeps jobs, and
reads only jobs of exposed operations: a filter hides a job's outcome as it hides the tool. Which
conversation's jobs it reads is ``invoke.get_job``'s rule, as over gRPC.

The name has no ``__``, so no operation's tool (``api__operation``) can take it, except an API
and an operation both called ``get_background_job``, whose tool then wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError
from ..invoke import job_not_found
from ._results import error_result, tool_result

__all__ = ["JOB_TOOL", "JOB_TOOL_DEFINITION", "job_tool_result"]

JOB_TOOL = "get_background_job"
JOB_TOOL_DEFINITION: dict[str, Any] = {
    "name": JOB_TOOL,
    "description": (
        "Read a background call's state (queued, running, succeeded, failed) by the job_id its tool "
        "answered with; once it has run, the result is what the call itself would have answered."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {"job_id": {"type": "string", "description": "the job_id of a background call"}},
        "required": ["job_id"],
        "additionalProperties": False,
    },
    "annotations": {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
}


async def job_tool_result(
    get_job: Callable[[str], Awaitable[pb.GetJobResponse]],
    arguments: Mapping[str, Any],
    exposed: Callable[[str, str], str | None],
) -> dict[str, Any]:
    """``exposed(api, operation)`` is the operation's tool name when the filter exposes it."""
    job_id = arguments.get("job_id")
    if not isinstance(job_id, str) or not job_id or set(arguments) - {"job_id"}:
        raise SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT, f"{JOB_TOOL}: takes one argument, job_id (a string)", field="job_id"
        )
    job = await get_job(job_id)  # another conversation's job is not found there
    tool = exposed(job.api, job.operation)
    if tool is None:  # the same answer as for an id that does not exist: nothing about hidden jobs
        raise job_not_found(job_id)
    summary = _job_summary(job)
    line = (
        f"background job {job.job_id} ({tool}): {job.state}, {job.attempts} attempt{'' if job.attempts == 1 else 's'}"
    )
    if job.state == "succeeded":
        result = tool_result(job.response, tool)
    elif job.state == "failed":
        detail = job.error
        result = error_result(
            SidecarError(
                detail.code,
                detail.message,
                api=detail.api,
                operation=detail.operation,
                suggestions=detail.suggestions,
                field=detail.field,
            )
        )
    else:
        result = {"content": [], "isError": False}
    result["content"] = [{"type": "text", "text": line}, *result["content"]]
    structured: dict[str, Any] = {"job": summary}
    if "structuredContent" in result:
        structured["result"] = result["structuredContent"]
    result["structuredContent"] = structured
    return result


def _job_summary(job: pb.GetJobResponse) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "job_id": job.job_id,
        "state": job.state,
        "attempts": job.attempts,
        "api": job.api,
        "operation": job.operation,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
    }
    if job.state == "succeeded":
        summary["status_code"] = job.response.status_code
    return summary


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
