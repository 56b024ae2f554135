"""``oauth2``: the client-credentials grant (RFC 6749 §4.4): authlib's protocol client over our httpx.

One token per API for the sidecar's environment, kept in memory:

- fetched at ``start`` (warm), then refreshed in the background at 80% of its
  lifetime, so once warm no call waits on the token endpoint;
- concurrent callers that do need a token share one fetch (single flight);
- an expired token is never sent: it stops being used a margin before
  ``expires_in`` runs out, and a call with no usable token fetches one (shared);
- an upstream 401 drops the token that was sent, so the retry gets a fresh one;
- a rotated client id or secret (a new secret-store version) triggers a
  background refresh while the old token keeps serving;
- with a ``share`` hook (fleet mode, Redis) every fetch first asks the fleet:
  a token another sidecar fetched is used instead, so one token is fetched per
  lifetime across all sidecars (``custom_api_sidecar.fleet.tokens``).

A failing token endpoint is reported by its HTTP status or transport failure,
never by its response body, which may echo the credentials. The answer is read raw and decoded
with a bound (``body_decoding``): at most ``MAX_TOKEN_RESPONSE_BYTES`` decoded bytes.

authlib builds the token request (grant body, scope, client authentication) and parses the
answer; the HTTP client is ours: ``httpx`` with the egress-checked transport. authlib's own
httpx integration is not used, because authlib >= 1.9 binds it to ``httpx2`` whenever that is
installed (the MCP SDK depends on it), and then our ``httpx.Timeout`` and transport do not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.oauth2 import OAuth2Client, OAuth2Error
from authlib.oauth2.client import DEFAULT_HEADERS
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from .._aio import wait_event
from ..body_decoding import ACCEPT_ENCODING, BodyDecodingError, BodyTooLarge
from ..config import OAuth2Auth
from ..config._model import DEFAULT_PROPAGATE
from ..errors import SidecarError
from ..httpx_body import read_decoded
from ..propagation import UpstreamPropagation, upstream_propagation
from ._credentials import Credentials
from ._parts import Part
from ._shared import SharedToken, SharedTokenUnavailable, TokenShareHook

log = logging.getLogger("custom_api_sidecar.auth")

REFRESH_AT = 0.8  # of the token's lifetime
MAX_EXPIRY_MARGIN = 30.0  # stop using a token this long (at most 10% of its lifetime) before it expires
ASSUMED_LIFETIME = 3600.0  # when the endpoint gives no expires_in: refresh hourly, and on a 401
RETRY_MIN, RETRY_MAX = 1.0, 30.0  # background retry backoff after a failed refresh
FAILURE_HOLD = 1.0  # a call-path fetch that just failed is not repeated for this long
CLIENT_AUTH_METHODS = {"header": "client_secret_basic", "body": "client_secret_post"}
# A token answer is a small JSON object (a large JWT is a few KB): anything over this is refused.
MAX_TOKEN_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    refresh_at: float  # monotonic clock
    expires_at: float | None  # minus the margin; None when the endpoint gave no expires_in
    versions: tuple[int, int]  # secret-store versions of client id and secret it was fetched with

    def usable(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


class TokenEndpointError(Exception):
    """The token request failed; the message names the status or transport failure, never a body."""


class _Status(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class ClientCredentials:
    type = "oauth2"
    query_names: frozenset[str] = frozenset()

    def __init__(
        self,
        api: str,
        settings: OAuth2Auth,
        client_id: Part,
        client_secret: Part,
        tracer: trace.Tracer,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        share: TokenShareHook | None = None,
        propagation: UpstreamPropagation | None = None,
    ) -> None:
        """``propagation``: the trace context the API sends (its ``propagate:``); default traceparent only."""
        self.api = api
        self._propagation = propagation or upstream_propagation(DEFAULT_PROPAGATE)
        self.settings = settings
        self.header_names = frozenset({settings.auth_header_name.lower()})
        self._header = settings.auth_header_name
        self._prefix = f"{settings.token_prefix} " if settings.token_prefix else ""
        self._url = settings.token_url
        parts = urlsplit(settings.token_url)
        self._span_attributes: dict[str, Any] = {
            "http.request.method": "POST",
            "url.full": settings.token_url,  # the loader refuses credentials and queries in it
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
            "custom_api.api": api,
            "oauth2.grant_type": "client_credentials",
        }
        self._params: dict[str, str] = dict(settings.extra_params)
        if settings.audience:
            self._params["audience"] = settings.audience
        self._timeout = settings.timeout_ms / 1000
        self._client_id = client_id
        self._client_secret = client_secret
        self._tracer = tracer
        self._clock = clock
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,  # a redirect could carry the client secret elsewhere
            trust_env=False,  # no ambient proxies or .netrc credentials
            transport=transport,  # None: httpx's own, TLS verified
            headers={"Accept-Encoding": ACCEPT_ENCODING},  # httpx's default also offers br, which we do not decode
        )
        self._client = _TokenRequests(
            self._http,
            token_endpoint_auth_method=CLIENT_AUTH_METHODS[settings.client_auth],
            scope=" ".join(settings.scopes) or None,
        )
        self._client.register_compliance_hook("access_token_response", _raise_unless_2xx)
        self._token: Token | None = None
        self._inflight: asyncio.Task[Token] | None = None
        self._last_failure: tuple[float, TokenEndpointError] | None = None
        self._changed = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None
        self.fetches = 0  # token requests sent, for tests and benchmarks
        self.share = share
        self._rejected: str | None = None  # the token an upstream refused, for the fleet to drop too

    def identity(self) -> str:
        """Which token this is, for sharing: the same endpoint, client and grant parameters."""
        return "\n".join(
            (
                self._url,
                self._client_id.value(),
                " ".join(sorted(self.settings.scopes)),
                repr(sorted(self._params.items())),
            )
        )

    # --- lifetime -----------------------------------------------------------------

    async def start(self) -> None:
        """Fetch the first token; on failure log it and keep retrying in the background."""
        failed = False
        try:
            await self._shared_fetch()
        except (TokenEndpointError, SidecarError) as exc:
            failed = True
            log.warning("%s: no OAuth2 token at startup, retrying in the background: %s", self.api, _message(exc))
        self._refresher = asyncio.create_task(self._refresh_forever(failed), name=f"oauth2-refresh:{self.api}")

    async def aclose(self) -> None:
        for task in (self._refresher, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._http.aclose()

    # --- the call path ----------------------------------------------------------------

    async def credentials(self, timeout: float) -> Credentials:
        token = self._token
        if token is None or not token.usable(self._clock()):
            token = await self._wait_for_token(timeout)
        elif token.versions != self._versions():
            self._changed.set()  # rotated client credentials: refresh in the background, keep serving
        sent = self._prefix + token.value
        return Credentials(headers=((self._header, sent),), secrets=(token.value, sent))

    def rejected(self, credentials: Credentials) -> bool:
        token = self._token
        if token is not None and token.value in credentials.secrets:
            log.info("%s: upstream answered 401; dropping the OAuth2 token and fetching a new one", self.api)
            self._rejected = token.value
            self._token = None
            self._changed.set()
        return True

    async def _wait_for_token(self, timeout: float) -> Token:
        failure = self._last_failure
        if failure is not None and self._clock() - failure[0] < FAILURE_HOLD:
            raise self._failed(failure[1])
        try:
            return await asyncio.wait_for(asyncio.shield(self._shared_fetch()), max(timeout, 0.0))
        except TimeoutError:
            raise SidecarError(
                ErrorCode.TIMEOUT,
                f"no OAuth2 token: the token endpoint {self._url} did not answer "
                f"within the call's remaining {max(timeout, 0.0):.3g} s",
                api=self.api,
            ) from None
        except TokenEndpointError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: TokenEndpointError) -> SidecarError:
        return SidecarError(ErrorCode.AUTHENTICATION_FAILED, f"no OAuth2 token: {exc}", api=self.api)

    # --- fetching ------------------------------------------------------------------

    def _shared_fetch(self) -> asyncio.Task[Token]:
        """The fetch in flight, or a new one: concurrent callers share it."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._fetch(), name=f"oauth2-fetch:{self.api}")
            self._inflight.add_done_callback(_consume_exception)
        return self._inflight

    async def _fetch(self) -> Token:
        versions = self._versions()
        try:
            token = await (self._fetch_shared(versions) if self.share is not None else self._fetch_own(versions))
        except TokenEndpointError as exc:
            self._last_failure = (self._clock(), exc)
            raise
        self._token = token
        self._last_failure = None
        self._changed.set()
        return token

    async def _fetch_own(self, versions: tuple[int, int]) -> Token:
        client_id, client_secret = self._client_id.value(), self._client_secret.value()
        started = self._clock()
        self.fetches += 1
        raw = await self._request(client_id, client_secret)
        return self._parse(raw, started, versions)

    async def _fetch_shared(self, versions: tuple[int, int]) -> Token:
        """Ask the fleet first; fetch (and share) only if no sidecar has a fresh token."""
        assert self.share is not None
        rejected, self._rejected = self._rejected, None

        async def fetch_for_fleet() -> SharedToken:
            offset = time.time() - self._clock()  # monotonic -> epoch, for the other sidecars
            token = await self._fetch_own(versions)
            return SharedToken(
                token.value, token.refresh_at + offset, None if token.expires_at is None else token.expires_at + offset
            )

        try:
            shared = await self.share.obtain(fetch_for_fleet, rejected)
        except SharedTokenUnavailable as exc:
            raise TokenEndpointError(str(exc)) from None
        if shared is None:  # sharing is unavailable: this sidecar's own token, as without a fleet
            return await self._fetch_own(versions)
        offset = self._clock() - time.time()
        expires_at = None if shared.expires_at is None else shared.expires_at + offset
        return Token(shared.value, shared.refresh_at + offset, expires_at, versions)

    async def _request(self, client_id: str, client_secret: str) -> dict[str, Any]:
        with self._tracer.start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            record_exception=False,  # exception text is ours to vet
            set_status_on_exception=False,
            attributes=self._span_attributes,
        ) as span:
            headers = dict(DEFAULT_HEADERS)
            trace_headers: list[tuple[str, str]] = []
            self._propagation.inject(trace_headers)  # what the API sends upstream, no more
            headers.update(trace_headers)
            # Set per fetch, so a rotated client id or secret is used at once.
            self._client.client_id, self._client.client_secret = client_id, client_secret
            try:
                token = await self._client.fetch_token(
                    self._url, grant_type="client_credentials", headers=headers, **self._params
                )
            except _Status as exc:
                span.set_attribute("http.response.status_code", exc.status)
                raise self._span_error(span, str(exc.status), f"answered HTTP {exc.status}") from None
            except (httpx.TimeoutException, TimeoutError):
                raise self._span_error(span, "timeout", f"did not answer within {self._timeout:g} s") from None
            except httpx.HTTPError as exc:
                name = type(exc).__name__
                raise self._span_error(span, name, f"could not be reached ({name})") from None
            except BodyTooLarge:
                raise self._span_error(
                    span, "response_too_large", f"answered with more than {MAX_TOKEN_RESPONSE_BYTES} bytes"
                ) from None
            except BodyDecodingError as exc:
                raise self._span_error(span, "invalid_response", f"answered with an undecodable body ({exc})") from None
            except (OAuth2Error, ValueError):  # a 2xx whose body is not a token
                raise self._span_error(span, "invalid_response", "answered without a usable token") from None
            span.set_attribute("http.response.status_code", 200)
            return dict(token)

    def _span_error(self, span: trace.Span, error_type: str, what: str) -> TokenEndpointError:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
        return TokenEndpointError(f"the token endpoint {self._url} {what}")

    def _parse(self, raw: dict[str, Any], started: float, versions: tuple[int, int]) -> Token:
        value = raw.get("access_token")
        if not isinstance(value, str) or not value or not value.isprintable():
            raise TokenEndpointError(f"the token endpoint {self._url} answered without a usable access_token")
        expires_in = _seconds(raw.get("expires_in"))
        if expires_in is None:
            return Token(value, started + ASSUMED_LIFETIME * REFRESH_AT, None, versions)
        margin = min(MAX_EXPIRY_MARGIN, expires_in * 0.1)
        # Lifetimes count from when the request was sent: the token is never older than we think.
        expires_at = started + expires_in - margin
        # A slow token endpoint and a short lifetime: refresh early enough that the next token
        # arrives (at this fetch's pace, twice over) before this one expires, so no call waits.
        took = self._clock() - started
        refresh_at = max(started + expires_in / 2, min(started + expires_in * REFRESH_AT, expires_at - 2 * took))
        return Token(value, refresh_at, expires_at, versions)

    def _versions(self) -> tuple[int, int]:
        return (self._client_id.version(), self._client_secret.version())

    # --- background refresh ---------------------------------------------------------

    async def _refresh_forever(self, failed_at_start: bool) -> None:
        failures = int(failed_at_start)
        retry_at = self._clock() + _backoff(1)
        while True:
            self._changed.clear()
            now = self._clock()
            token = self._token
            if failures:
                due = retry_at  # absolute, so wake-ups from calls do not postpone it
            elif token is None or token.versions != self._versions():
                due = now
            else:
                due = token.refresh_at
            if due > now and await wait_event(self._changed, due - now):  # else: due now
                if self._token is not token:
                    failures = 0  # a call fetched one, or a 401 dropped it
                continue  # decide again; retry_at is absolute, so a wake-up never postpones a retry
            try:
                await self._shared_fetch()
            except (TokenEndpointError, SidecarError) as exc:
                failures += 1
                retry_at = self._clock() + _backoff(failures)
                log.warning("%s: OAuth2 token refresh failed (attempt %d): %s", self.api, failures, _message(exc))
            except Exception:  # a bug must not end refreshing for good
                failures += 1
                retry_at = self._clock() + _backoff(failures)
                log.exception("%s: OAuth2 token refresh failed unexpectedly", self.api)
            else:
                failures = 0


class _TokenRequests(OAuth2Client):
    """authlib's protocol client (``fetch_token`` prepares the body and signs it with the client
    authentication method) sending through ``http``, our httpx client."""

    def __init__(self, http: httpx.AsyncClient, **kwargs: Any) -> None:
        super().__init__(session=None, **kwargs)
        self._http = http

    async def _fetch_token(  # called, not awaited, by fetch_token: so fetch_token returns this coroutine
        self, url: str, body: str = "", headers: Any = None, auth: Any = None, method: str = "POST", **kwargs: Any
    ) -> Any:
        url, signed_headers, body = auth.prepare(method, url, dict(headers or {}), body)
        request = self._http.build_request("POST", url, content=body.encode(), headers=signed_headers)
        streamed = await self._http.send(request, stream=True)
        try:
            content = await read_decoded(streamed, MAX_TOKEN_RESPONSE_BYTES)
        finally:
            await streamed.aclose()
        # authlib reads status, JSON and raise_for_status from a plain response: the decoded one.
        decoded = [(k, v) for k, v in streamed.headers.multi_items() if k not in ("content-encoding", "content-length")]
        response = httpx.Response(streamed.status_code, headers=decoded, content=content, request=request)
        for hook in self.compliance_hook["access_token_response"]:
            response = hook(response)
        return self.parse_response_token(response)


def _raise_unless_2xx(response: httpx.Response) -> httpx.Response:
    if not 200 <= response.status_code < 300:
        raise _Status(response.status_code)
    return response


def _seconds(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _backoff(failures: int) -> float:
    return min(RETRY_MAX, RETRY_MIN * 2 ** (failures - 1))


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SidecarError) else str(exc)


def _consume_exception(task: asyncio.Task[Token]) -> None:
    # Every waiter may have given up (timeouts); the failure is already recorded.
    if not task.cancelled():
        task.exception()
