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
    """The base of every exception this client raises. ``code`` names the error (an ``ErrorCode`` name, or one of the
    client's own); ``message`` says what was wrong, never a secret."""

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
    """Raised by ``Response.raise_for_status()`` for a 4xx or 5xx response; ``response`` is that response."""

    code = "HTTP_ERROR"

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response


class SidecarUnavailable(CustomApiError):
    """The sidecar could not be reached, or dropped the call before answering; the message names the target."""

    code = "SIDECAR_UNAVAILABLE"


class AuthenticationFailed(CustomApiError):
    """The upstream rejected the credentials, or they could not be obtained (an OAuth2 token fetch failed)."""

    code = "AUTHENTICATION_FAILED"


class CredentialsUnavailable(CustomApiError):
    """A secret reference of the API could not be resolved (Vault, env:// or file:// unavailable)."""

    code = "CREDENTIALS_UNAVAILABLE"


class EndpointNotFound(CustomApiError):
    """The upstream host does not resolve."""

    code = "ENDPOINT_NOT_FOUND"


class Timeout(CustomApiError):
    """The upstream (or the sidecar) did not answer within the timeout or the call's deadline."""

    code = "TIMEOUT"


class RateLimited(CustomApiError):
    """A rate limit configured for the API is exhausted; nothing was sent."""

    code = "RATE_LIMITED"


class SSLError(CustomApiError):
    """The TLS handshake or the upstream's certificate failed."""

    code = "SSL_ERROR"


class ConnectionRefused(CustomApiError):
    """The upstream could not be reached (refused, or no route)."""

    code = "CONNECTION_REFUSED"


class UpstreamProtocolError(CustomApiError):
    """The upstream broke HTTP: a reset connection, bad framing, a malformed response."""

    code = "UPSTREAM_PROTOCOL_ERROR"


class SchemaMismatch(CustomApiError):
    """A 2xx response body does not match the operation's response schema (with ``validation.response: enforce``)."""

    code = "SCHEMA_MISMATCH"


class UnknownApi(CustomApiError):
    """No API of that name is configured; ``suggestions`` holds close names."""

    code = "UNKNOWN_API"


class UnknownOperation(CustomApiError):
    """The API has no operation of that name; ``suggestions`` holds close names."""

    code = "UNKNOWN_OPERATION"


class InvalidArgument(CustomApiError, ValueError):
    """Also a ValueError: raised locally for a value the client refuses (a bad context, say)."""

    code = "INVALID_ARGUMENT"


class UrlNotAllowed(CustomApiError):
    """The URL built for the call is outside the API's ``url_allowlist``; nothing was sent."""

    code = "URL_NOT_ALLOWED"


class EgressDenied(CustomApiError):
    """The upstream resolves to an address this API may not reach (private, loopback, metadata...)."""

    code = "EGRESS_DENIED"


class CircuitOpen(CustomApiError):
    """The API's circuit breaker is open after repeated failures; the message says when it tries again."""

    code = "CIRCUIT_OPEN"


class JobNotFound(CustomApiError):
    """No background job with that id, or not one the caller's conversation may read."""

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
    """The decoded response body is over the API's ``max_response_bytes``."""

    code = "RESPONSE_TOO_LARGE"


class RequestTooLarge(CustomApiError):
    """The request body is over the API's ``max_request_bytes``; nothing was sent."""

    code = "REQUEST_TOO_LARGE"


class InternalError(CustomApiError):
    """A fault in the sidecar, or an error code this client does not know."""

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
