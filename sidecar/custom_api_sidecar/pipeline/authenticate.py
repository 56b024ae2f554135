"""Stage: inject the API's credentials, retry once on a 401 with fresh ones, keep them out of the response.

- The caller may not set or override an injected header or query parameter:
  that is INVALID_ARGUMENT naming it (rejected, not silently replaced, so a
  bug in the agent is visible rather than a request quietly changing meaning).
- Injected names are marked secret on the outbound request, so the returned
  URL, errors, logs and spans show them redacted.
- An upstream 401 makes the authenticator drop what it sent (OAuth2: the
  token); the call is then sent once more with fresh credentials.
- What an upstream echoes back of the credentials never reaches the agent
  (``redact``): response headers named like an injected header or carrying a
  secret are dropped, and every secret is replaced by ``REDACTED`` in the body
  and the reason phrase.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..auth import Authenticator, Credentials
from ..errors import SidecarError
from ..registry import Operation
from ._call import Call, OutboundRequest, UpstreamResponse
from ._compose import Handler
from .redact import echoes

log = logging.getLogger("custom_api_sidecar.auth")


class Authenticate:
    def __init__(self, authenticators: Mapping[str, Authenticator]) -> None:
        self._authenticators = authenticators

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op, out = call.operation, call.outbound
        assert op is not None and out is not None
        auth = self._authenticators.get(op.api.name)
        if auth is None:
            return await call_next(call)
        _refuse_overrides(op, out, auth)
        out.secret_header_names.update(auth.header_names)
        out.secret_query_names.update(auth.query_names)
        headers, query = list(out.headers), list(out.query)
        sent = [await _credentials(auth, call, op)]
        _inject(out, headers, query, sent[-1])
        response = await call_next(call)
        if response.status_code == 401 and auth.rejected(sent[-1]):
            sent.append(await _credentials(auth, call, op))
            _inject(out, headers, query, sent[-1])
            response = await call_next(call)
        for name in echoes(secret for credentials in sent for secret in credentials.secrets).redact(
            response, auth.header_names
        ):
            log.debug("dropped response header %r: it carries an injected credential", name)
        return response


def _refuse_overrides(op: Operation, out: OutboundRequest, auth: Authenticator) -> None:
    for name, _ in out.headers:
        if name.lower() in auth.header_names:
            raise _injected(op, auth, f"header {name!r}", name)
    for name, _ in out.query:
        if name in auth.query_names:
            raise _injected(op, auth, f"query parameter {name!r}", name)


def _injected(op: Operation, auth: Authenticator, what: str, name: str) -> SidecarError:
    return SidecarError(
        ErrorCode.INVALID_ARGUMENT,
        f"{op.api.name}.{op.name}: {what} is set by the sidecar from the API's {auth.type} credentials; "
        "the caller cannot set or override it",
        api=op.api.name,
        operation=op.name,
        field=name,
    )


async def _credentials(auth: Authenticator, call: Call, op: Operation) -> Credentials:
    try:
        return await auth.credentials(call.deadline - time.monotonic())
    except SidecarError as err:
        # Name the call; the message already names the reference or token endpoint, never a value.
        raise SidecarError(
            err.code, f"{op.api.name}.{op.name}: {err.message}", api=op.api.name, operation=op.name
        ) from None


def _inject(
    out: OutboundRequest, headers: list[tuple[str, str]], query: list[tuple[str, str]], credentials: Credentials
) -> None:
    # New lists: the caller's stay untouched for a retry with other credentials.
    out.headers = [*headers, *credentials.headers]
    out.query = [*query, *credentials.query] if credentials.query else query
