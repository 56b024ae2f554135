"""The sidecar's one error type, and the one table mapping its codes to gRPC.

Stages raise ``SidecarError(ErrorCode.X, message, ...)``; library exceptions are
translated where they occur (``raise SidecarError(...) from exc``). The gRPC
boundary turns it into a status plus a structured ``ErrorDetail`` in trailing
metadata (``custom-api-error-bin``), which the client maps back to one
exception class per code. Messages must never contain a secret value.
"""

from __future__ import annotations

import difflib
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
}


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
        super().__init__(message)
        self.code = code
        self.message = message
        self.api = api
        self.operation = operation
        self.suggestions = tuple(suggestions)
        self.field = field

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
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
