"""The sealed parts of a background job's record in Redis (``redis.job_key``, AES-256-GCM).

Redis is not trusted: whoever can write to it must not be able to read a job's request or
response, nor make a sidecar run a call it did not accept. So everything a job acts on or
answers with is sealed, in three hash fields:

- ``call``: the API, the operation, the InvokeRequest (its arguments, body and headers, the
  ``Idempotency-Key`` among them), the caller's metadata (conversation id, trace context) and
  when it was accepted;
- ``response`` (an InvokeResponse) or ``error`` (an ErrorDetail), once it has run.

Each is sealed with associated data naming the record format, the job's Redis key (key prefix,
environment, job id) and the field: a sealed value copied to another job, another field, or
another deployment's prefix does not open. The plaintext fields beside them (state, attempts,
timestamps) only schedule and describe; changing them cannot make a forged call run.

``call`` is ``len(header) (4 bytes, big-endian) || header (JSON) || InvokeRequest bytes``.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ._seal import Seal, Unopenable

CALL, RESPONSE, ERROR = "call", "response", "error"
FORMAT = b"custom-api-sidecar/job-record/v1"
JOB_ID = re.compile(r"[0-9a-f]{32}")  # what JobQueue.submit makes (uuid4().hex): anything else is not ours
MAX_HEADER_BYTES = 1 << 20
_LENGTH = struct.Struct(">I")


class Refused(Exception):
    """A job record this sidecar will not act on. ``reason`` is a short fixed word (a metric
    attribute); ``why`` says what was wrong, never the record's content."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why


@dataclass(frozen=True)
class SealedCall:
    api: str
    operation: str
    request: bytes  # an InvokeRequest
    metadata: tuple[tuple[str, str], ...]
    created_at: float


def is_job_id(job_id: str) -> bool:
    return JOB_ID.fullmatch(job_id) is not None


class JobRecords:
    """Seals and opens the ``call``, ``response`` and ``error`` fields of one deployment's jobs."""

    def __init__(self, seal: Seal, job_key: Callable[[str], str]) -> None:
        """``job_key(job_id)`` is the job's Redis key (it carries the prefix and environment)."""
        self._seal = seal
        self._job_key = job_key

    def _associated(self, job_id: str, field: str) -> bytes:
        return b"\n".join((FORMAT, self._job_key(job_id).encode(), field.encode()))

    def seal_call(self, job_id: str, call: SealedCall) -> bytes:
        header = json.dumps(
            {
                "api": call.api,
                "operation": call.operation,
                "metadata": [list(pair) for pair in call.metadata],
                "created_at": call.created_at,
            }
        ).encode()
        return self._seal.seal(_LENGTH.pack(len(header)) + header + call.request, self._associated(job_id, CALL))

    def open_call(self, job_id: str, sealed: bytes | None) -> SealedCall:
        plain = self._open(job_id, CALL, sealed)
        try:
            (length,) = _LENGTH.unpack_from(plain)
            if length > min(MAX_HEADER_BYTES, len(plain) - _LENGTH.size):
                raise ValueError("header length out of range")
            header = json.loads(plain[_LENGTH.size : _LENGTH.size + length])
            created_at = float(header["created_at"])
            call = SealedCall(
                api=_text(header["api"]),
                operation=_text(header["operation"]),
                request=plain[_LENGTH.size + length :],
                metadata=tuple((_text(k), _text(v)) for k, v in header["metadata"]),
                created_at=created_at,
            )
        except (struct.error, ValueError, KeyError, TypeError):
            raise Refused("malformed", "its sealed call opened but is not a job record") from None
        if not math.isfinite(created_at):
            raise Refused("malformed", "its sealed call opened but is not a job record")
        return call

    def seal_outcome(self, job_id: str, field: str, data: bytes) -> bytes:
        return self._seal.seal(data, self._associated(job_id, field))

    def open_outcome(self, job_id: str, field: str, sealed: bytes) -> bytes:
        return self._open(job_id, field, sealed)

    def _open(self, job_id: str, field: str, sealed: bytes | None) -> bytes:
        if sealed is None:
            raise Refused("not_sealed", f"it has no sealed {field!r} field (not written by a sidecar)")
        try:
            return self._seal.open(sealed, self._associated(job_id, field))
        except Unopenable as exc:
            raise Refused(
                "unopenable",
                f"its sealed {field!r} field {exc} (forged, tampered, copied from another job, "
                "or sealed with another redis.job_key)",
            ) from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
