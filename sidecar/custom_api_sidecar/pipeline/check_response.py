"""Stage: a 2xx body against the operation's ``response_schema``.

Per API, ``validation.response`` says what a mismatch does: ``enforce`` fails
the call with SCHEMA_MISMATCH, ``warn`` (the default) logs a WARNING and
returns the response, ``off`` skips the check (no validator is compiled).
Neither the error nor the log quotes the body: only where it failed and what
the schema expected there.
"""

from __future__ import annotations

import json
import logging

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..errors import SidecarError
from ..registry import Operation
from ..validation import SchemaValidator
from ._call import Call, UpstreamResponse
from ._compose import Handler

log = logging.getLogger("custom_api_sidecar.validation")


class ValidateResponse:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        response = await call_next(call)
        op = call.operation
        assert op is not None
        validator = op.response_validator
        if validator is None or not 200 <= response.status_code < 300 or not response.body:
            return response
        problem = mismatch(validator, response)
        if problem is None:
            return response
        where, what = problem
        if op.api.config.validation.response == "enforce":
            raise SidecarError(
                ErrorCode.SCHEMA_MISMATCH,
                f"{op.api.name}.{op.name}: the response does not match its response_schema at {where}: {what}",
                api=op.api.name,
                operation=op.name,
                field=where,
            )
        _warn(op, where, what)
        return response


def mismatch(validator: SchemaValidator, response: UpstreamResponse) -> tuple[str, str] | None:
    """Where and how a 2xx body fails its schema (never quoting the body); None when it matches."""
    content_type = next((v for k, v in response.headers if k.lower() == "content-type"), "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and not (media_type == "application/json" or media_type.endswith("+json")):
        return "response", f"expected a JSON body, got content type {media_type!r}"
    try:
        body = json.loads(response.body)
    except ValueError:
        return "response", "the body is not valid JSON"
    violation = validator.violation(body)
    return None if violation is None else (violation.path, violation.summary)


def _warn(op: Operation, where: str, what: str) -> None:
    log.warning("%s.%s: the response does not match its response_schema at %s: %s", op.api.name, op.name, where, what)
