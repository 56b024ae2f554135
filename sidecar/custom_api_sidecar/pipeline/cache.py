"""Stages: the response cache for operations configured with ``cache: {ttl_s, scope}``
(GET and HEAD only; ``custom_api_sidecar.cache`` says what the key holds and what is stored).

``ResponseCaching`` runs once the request is bound and built and its URL allowed, before the
rate limit and the circuit breaker: a cached answer costs the upstream nothing, so it spends
none of its quota and is served while the breaker is open. It asks the API's authenticator for
the credentials the call would carry (memory, or the cached OAuth2 token) only to key the entry.

``NoteCachingHeaders`` sits inside the response shaping: it notes the upstream's caching headers
before an API's ``response_headers.drop`` could remove them, so a ``no-store`` is always seen.

- ``scope: conversation`` with no conversation id: not cached (nothing to scope it to);
- a call with ``force_refresh`` (background jobs, connection tests) is never answered from the
  cache, but its answer is stored: a background call can warm the next turn's lookup.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from opentelemetry import trace

from ..auth import Authenticator, Credentials
from ..cache import CachedAnswer, ResponseCache, cached_api_digests, freshness
from ..errors import SidecarError
from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler

CACHING_HEADERS = frozenset({"cache-control", "expires", "date", "age", "vary"})
HIT_ATTRIBUTE = "custom_api.cache.hit"
JOB_IDEMPOTENCY_HEADER = "idempotency-key"  # what jobs/_queue.py adds to every background call


class ResponseCaching:
    def __init__(self, registry: Registry, cache: ResponseCache, authenticators: Mapping[str, Authenticator]) -> None:
        self._cache = cache
        self._authenticators = authenticators
        self._environment = registry.environment
        self.digests = cached_api_digests(api.config for api in registry.apis.values())
        # An idempotency key names an attempt, not a question (background jobs add a fresh one to each).
        self._ignored = {
            name: frozenset({JOB_IDEMPOTENCY_HEADER, api.config.connection.retry.idempotency_key_header.lower()}) - {""}
            for name, api in registry.apis.items()
        }

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        op, out = call.operation, call.outbound
        assert op is not None and out is not None
        setting = op.endpoint.cache
        if setting is None or not self._cache.enabled:
            return await call_next(call)
        conversation: str | None = None
        if setting.scope == "conversation":
            if not call.conversation_id:
                return await call_next(call)
            conversation = call.conversation_id
        auth = self._authenticators.get(op.api.name)
        credentials: Credentials | None = None
        if auth is not None:
            try:
                credentials = await auth.credentials(call.deadline - time.monotonic())
            except SidecarError:
                return await call_next(call)  # the authenticate stage reports it, naming the call
        api = op.api.name
        key = self._cache.keys.key(
            self._environment, api, self.digests[api], op.name, out, credentials, conversation, self._ignored[api]
        )
        span = trace.get_current_span()
        if not call.force_refresh:
            started = time.perf_counter()
            answer = await self._cache.get(key, time.time())
            if answer is not None:
                call.cache = "hit"
                self._cache.counted(call.api_label, call.operation_label, hit=True)
                span.set_attribute(HIT_ATTRIBUTE, True)
                return UpstreamResponse(
                    status_code=answer.status_code,
                    reason=answer.reason,
                    headers=list(answer.headers),
                    body=answer.body,
                    elapsed=time.perf_counter() - started,
                    url=answer.url,
                    http_version=answer.http_version,
                    from_cache=True,
                )
        call.cache = "miss"
        self._cache.counted(call.api_label, call.operation_label, hit=False)
        span.set_attribute(HIT_ATTRIBUTE, False)
        response = await call_next(call)
        ttl = freshness(response.status_code, call.caching_headers, setting.ttl_s, shared=conversation is None)
        if ttl is not None and not any(name.lower() == "set-cookie" for name, _ in response.headers):
            answer = CachedAnswer(
                status_code=response.status_code,
                reason=response.reason,
                headers=tuple(response.headers),
                body=response.body,
                url=response.url,
                http_version=response.http_version,
                expires_at=time.time() + ttl,
            )
            self._cache.put(key, answer, ttl)
        return response


class NoteCachingHeaders:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        response = await call_next(call)
        assert call.operation is not None
        if call.operation.endpoint.cache is not None:
            call.caching_headers = [(k, v) for k, v in response.headers if k.lower() in CACHING_HEADERS]
        return response
