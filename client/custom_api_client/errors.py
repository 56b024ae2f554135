"""Exceptions raised by the custom-api-sidecar client.

An upstream HTTP 4xx/5xx is *not* an exception: it comes back as a Response,
as in requests. These are raised when there is no upstream response at all,
or by ``Response.raise_for_status()``::

    CustomApiError                 .code, .message, .api, .operation, .suggestions, .field
    ├── HTTPError                  raise_for_status() on a 4xx/5xx; carries .response
    ├── SidecarUnavailable         the sidecar could not be reached, or dropped the call (names the target)
    ├── AuthenticationFailed       AUTHENTICATION_FAILED
    ├── CredentialsUnavailable     CREDENTIALS_UNAVAILABLE
    ├── EndpointNotFound           ENDPOINT_NOT_FOUND (upstream host does not resolve)
    ├── Timeout                    TIMEOUT
    ├── RateLimited                RATE_LIMITED
    ├── SSLError                   SSL_ERROR
    ├── ConnectionRefused          CONNECTION_REFUSED
    ├── UpstreamProtocolError      UPSTREAM_PROTOCOL_ERROR
    ├── SchemaMismatch             SCHEMA_MISMATCH
    ├── UnknownApi                 UNKNOWN_API
    ├── UnknownOperation           UNKNOWN_OPERATION
    ├── InvalidArgument            INVALID_ARGUMENT (also raised locally, e.g. unencodable values; a ValueError)
    ├── UrlNotAllowed              URL_NOT_ALLOWED
    ├── EgressDenied               EGRESS_DENIED (the upstream's address is not one this API may reach)
    ├── CircuitOpen                CIRCUIT_OPEN (the upstream keeps failing; the message says when it retries)
    ├── JobNotFound                JOB_NOT_FOUND (no background job with that id in the caller's conversation)
    ├── Overloaded                 OVERLOADED (too many calls in flight; nothing was sent: retryable)
    ├── DisabledByOperator         DISABLED_BY_OPERATOR (the sidecar's operator turned this off)
    ├── AmbiguousOperation         AMBIGUOUS_OPERATION (a call by text matched several operations: .candidates)
    ├── ResponseTooLarge           RESPONSE_TOO_LARGE
    ├── RequestTooLarge            REQUEST_TOO_LARGE
    └── InternalError              INTERNAL, or an error the client does not recognise
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from .proto import sidecar_pb2

if TYPE_CHECKING:
    from ._response import Response

ERROR_METADATA_KEY = "custom-api-error-bin"


class CustomApiError(Exception):
    code: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        api: str = "",
        operation: str = "",
        suggestions: tuple[str, ...] = (),
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.api = api
        self.operation = operation
        self.suggestions = tuple(suggestions)
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class HTTPError(CustomApiError):
    code = "HTTP_ERROR"

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response


class SidecarUnavailable(CustomApiError):
    code = "SIDECAR_UNAVAILABLE"


class AuthenticationFailed(CustomApiError):
    code = "AUTHENTICATION_FAILED"


class CredentialsUnavailable(CustomApiError):
    code = "CREDENTIALS_UNAVAILABLE"


class EndpointNotFound(CustomApiError):
    code = "ENDPOINT_NOT_FOUND"


class Timeout(CustomApiError):
    code = "TIMEOUT"


class RateLimited(CustomApiError):
    code = "RATE_LIMITED"


class SSLError(CustomApiError):
    code = "SSL_ERROR"


class ConnectionRefused(CustomApiError):
    code = "CONNECTION_REFUSED"


class UpstreamProtocolError(CustomApiError):
    code = "UPSTREAM_PROTOCOL_ERROR"


class SchemaMismatch(CustomApiError):
    code = "SCHEMA_MISMATCH"


class UnknownApi(CustomApiError):
    code = "UNKNOWN_API"


class UnknownOperation(CustomApiError):
    code = "UNKNOWN_OPERATION"


class InvalidArgument(CustomApiError, ValueError):
    """Also a ValueError: raised locally for a value the client refuses (a bad context, say)."""

    code = "INVALID_ARGUMENT"


class UrlNotAllowed(CustomApiError):
    code = "URL_NOT_ALLOWED"


class EgressDenied(CustomApiError):
    code = "EGRESS_DENIED"


class CircuitOpen(CustomApiError):
    code = "CIRCUIT_OPEN"


class JobNotFound(CustomApiError):
    code = "JOB_NOT_FOUND"


class Overloaded(CustomApiError):
    """The sidecar is at its in-flight limit and refused the call before doing anything for it:
    nothing was sent upstream, so retrying after a short pause (with backoff) is safe."""

    code = "OVERLOADED"


class DisabledByOperator(CustomApiError):
    """The sidecar's operator turned this feature off (e.g. TestConnection from the agent); the
    message names the setting. Asking again will not help."""

    code = "DISABLED_BY_OPERATOR"


class AmbiguousOperation(CustomApiError):
    """``conv.api.call(text, ...)`` found no single best operation: nothing was called.
    ``candidates`` are the close matches (``api.operation``), best first: call one by name,
    or search and let the model choose."""

    code = "AMBIGUOUS_OPERATION"

    @property
    def candidates(self) -> tuple[str, ...]:
        return self.suggestions


class ResponseTooLarge(CustomApiError):
    code = "RESPONSE_TOO_LARGE"


class RequestTooLarge(CustomApiError):
    code = "REQUEST_TOO_LARGE"


class InternalError(CustomApiError):
    code = "INTERNAL"


_BY_CODE: dict[str, type[CustomApiError]] = {
    cls.code: cls
    for cls in (
        AuthenticationFailed,
        CredentialsUnavailable,
        EndpointNotFound,
        Timeout,
        RateLimited,
        SSLError,
        ConnectionRefused,
        UpstreamProtocolError,
        SchemaMismatch,
        UnknownApi,
        UnknownOperation,
        InvalidArgument,
        UrlNotAllowed,
        EgressDenied,
        CircuitOpen,
        JobNotFound,
        Overloaded,
        DisabledByOperator,
        AmbiguousOperation,
        ResponseTooLarge,
        RequestTooLarge,
        InternalError,
    )
}


def from_error_detail(detail: Any) -> CustomApiError:
    """The exception for an ErrorDetail (a failed call's trailer, or a failed background job)."""
    # A code newer than this client (a sidecar upgraded first) is an InternalError, never a crash.
    known = sidecar_pb2.ErrorCode.DESCRIPTOR.values_by_number.get(detail.code)
    cls = _BY_CODE.get(known.name, InternalError) if known is not None else InternalError
    return cls(
        detail.message,
        api=detail.api,
        operation=detail.operation,
        suggestions=tuple(detail.suggestions),
        field=detail.field,
    )


def from_rpc_error(exc: grpc.RpcError, target: str) -> CustomApiError:
    """Translate a gRPC failure into the exception for its error code."""
    detail = _error_detail(exc)
    if detail is not None:
        return from_error_detail(detail)
    status = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if status == grpc.StatusCode.UNAVAILABLE:
        return SidecarUnavailable(f"custom-api-sidecar at {target} is not reachable: {details}")
    if status == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(f"no answer from custom-api-sidecar at {target} before the deadline")
    if status == grpc.StatusCode.CANCELLED:  # not by this client: it would not be waiting for an answer
        return SidecarUnavailable(
            f"custom-api-sidecar at {target} dropped the call before answering (it was stopping, or "
            f"overloaded): {details}"
        )
    return InternalError(f"custom-api-sidecar at {target} failed: {status}: {details}")


def _error_detail(exc: grpc.RpcError) -> Any:
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == ERROR_METADATA_KEY:
            detail = sidecar_pb2.ErrorDetail()
            detail.ParseFromString(value)
            return detail
    return None
