"""The sidecar's one error type, and the one table mapping its codes to gRPC.

Stages raise ``SidecarError(ErrorCode.X, message, ...)``; library exceptions are
translated where they occur (``raise SidecarError(...) from exc``). The gRPC
boundary turns it into a status plus a structured ``ErrorDetail`` in trailing
metadata (``custom-api-error-bin``), which the client maps back to one
exception class per code. Messages must never contain a secret value.

An error travels in gRPC metadata, which a client refuses past 8 KiB (soft) / 16 KiB (hard):
so every field is bounded here, whatever a stage put in it, and a caller-supplied name is
quoted with ``_text.shown`` (a short prefix of a long one), never whole.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable

import grpc

from custom_api_client.proto.sidecar_pb2 import ErrorCode, ErrorDetail

ERROR_METADATA_KEY = "custom-api-error-bin"

GRPC_STATUS: dict[int, grpc.StatusCode] = {
    ErrorCode.AUTHENTICATION_FAILED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.ENDPOINT_NOT_FOUND: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.SSL_ERROR: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.CONNECTION_REFUSED: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.SCHEMA_MISMATCH: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNKNOWN_API: grpc.StatusCode.NOT_FOUND,
    ErrorCode.UNKNOWN_OPERATION: grpc.StatusCode.NOT_FOUND,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.URL_NOT_ALLOWED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.RESPONSE_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.REQUEST_TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.CREDENTIALS_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UPSTREAM_PROTOCOL_ERROR: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorCode.EGRESS_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.CIRCUIT_OPEN: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.JOB_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.DISABLED_BY_OPERATOR: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.AMBIGUOUS_OPERATION: grpc.StatusCode.INVALID_ARGUMENT,  # the text, not the state, is the problem
}

# Budget for one error in metadata, sent twice (grpc-message, percent-encoded: up to 3 bytes per
# byte; and the ErrorDetail, base64): the worst case stays under the client's 8 KiB soft limit.
MAX_MESSAGE_BYTES = 1024
MAX_NAME_CHARS = 128  # api, operation, field, each suggestion
MAX_SUGGESTIONS = 16


class SidecarError(Exception):
    def __init__(
        self,
        code: int,
        message: str,
        *,
        api: str = "",
        operation: str = "",
        suggestions: Iterable[str] = (),
        field: str = "",
    ) -> None:
        message = _clamp(message, MAX_MESSAGE_BYTES)
        super().__init__(message)
        self.code = code
        self.message = message
        self.api = api[:MAX_NAME_CHARS]
        self.operation = operation[:MAX_NAME_CHARS]
        self.suggestions = tuple(s[:MAX_NAME_CHARS] for s in itertools.islice(suggestions, MAX_SUGGESTIONS))
        self.field = field[:MAX_NAME_CHARS]

    @property
    def code_name(self) -> str:
        return ErrorCode.Name(self.code)

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return GRPC_STATUS[self.code]

    def detail(self) -> ErrorDetail:
        return ErrorDetail(
            code=self.code,  # type: ignore[arg-type]  # the stubs want the enum wrapper; an int is what it holds
            message=self.message,
            api=self.api,
            operation=self.operation,
            suggestions=self.suggestions,
            field=self.field,
        )

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ((ERROR_METADATA_KEY, self.detail().SerializeToString()),)

    def __repr__(self) -> str:
        return f"SidecarError({self.code_name}, {self.message!r})"


class StartupError(RuntimeError):
    """The sidecar cannot start (an unusable key, say); the message says why, never a secret."""


def did_you_mean(name: str, candidates: Iterable[str]) -> list[str]:
    """Close matches among ``candidates``; none for a name longer than any sensible one
    (difflib's cost grows with the product of the lengths, and this runs on the event loop)."""
    if len(name) > MAX_NAME_CHARS:
        return []
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)


def _clamp(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), marked as cut."""
    if len(text) * 4 <= limit:  # cannot be over, whatever the characters
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."
