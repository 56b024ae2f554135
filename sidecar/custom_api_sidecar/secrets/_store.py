"""The secret store: every referenced value in memory, refreshed in the background.

``get`` is synchronous and reads memory only, so the call path never waits on Vault or
a file. A background task re-reads each value every ``refresh_interval`` (sooner when
its lease runs out); a rotated secret is therefore picked up without a restart or a
failed call. When a source is unreachable the last good value keeps serving, with a
WARNING and a metric, until it is older than ``max_staleness``; after that, and for a
value never read, ``get`` raises CREDENTIALS_UNAVAILABLE naming the reference.

A reference first seen by ``get`` (not registered before ``start``) fails that call
with CREDENTIALS_UNAVAILABLE and is fetched in the background, so the next call works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry import metrics

from .._aio import wait_event
from ..errors import ErrorCode, SidecarError
from ._reference import SecretRef
from ._settings import SecretSettings
from ._source import SecretSource, SecretUnavailable

log = logging.getLogger("custom_api_sidecar.secrets")


@dataclass(frozen=True)
class SecretStatus:
    """One reference's state, for startup logs and ``validate``. Never holds a value."""

    text: str
    ok: bool
    detail: str  # "resolved" or the reason it did not


class _Entry:
    __slots__ = ("error", "failures", "fetched_at", "next_refresh", "ref", "value", "version")

    def __init__(self, ref: SecretRef, now: float) -> None:
        self.ref = ref
        self.value: str | None = None
        self.version = 0
        self.fetched_at = 0.0
        self.next_refresh = now
        self.error = "not fetched yet"
        self.failures = 0


class SecretStore:
    def __init__(
        self,
        sources: Mapping[str, SecretSource],
        settings: SecretSettings | None = None,
        *,
        missing_source: Mapping[str, str] | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sources`` maps a scheme (vault, env, file) to its source; ``missing_source``
        maps a scheme with no source to the reason, reported for each of its references."""
        self._sources = dict(sources)
        self._missing = dict(missing_source or {})
        self.settings = settings or SecretSettings()
        self._clock = clock
        self._entries: dict[SecretRef, _Entry] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._started_sources: list[SecretSource] = []
        self._refreshing = asyncio.Lock()
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("custom_api_sidecar.secrets")
        self._failure_counter = meter.create_counter(
            "custom_api_sidecar.secret.refresh_failures",
            description="Failed reads of a secret reference (attribute secret.ref is the reference, not a value)",
        )
        self.refresh_failures = 0  # the same count, for tests and status pages

    # --- the call path (memory only) -------------------------------------------

    def get(self, ref: SecretRef) -> str:
        entry = self._entries.get(ref)
        if entry is None:
            self.register(ref)
            raise SidecarError(
                ErrorCode.CREDENTIALS_UNAVAILABLE,
                f"secret {ref.text!r} was not loaded at startup; it is being fetched now, retry shortly",
            )
        if entry.value is None:
            raise SidecarError(ErrorCode.CREDENTIALS_UNAVAILABLE, f"secret {ref.text!r} is unavailable: {entry.error}")
        age = self._clock() - entry.fetched_at
        if age > self.settings.max_staleness:
            raise SidecarError(
                ErrorCode.CREDENTIALS_UNAVAILABLE,
                f"secret {ref.text!r} is unavailable: last read {age:.0f}s ago, longer than the maximum "
                f"staleness of {self.settings.max_staleness:g}s ({entry.error})",
            )
        return entry.value

    def version(self, ref: SecretRef) -> int:
        """Starts at 1 with the first value and increments each time the value changes."""
        entry = self._entries.get(ref)
        return entry.version if entry is not None else 0

    # --- registration and status ------------------------------------------------

    def register(self, ref: SecretRef) -> None:
        """Track ``ref``. Before ``start`` it is read by ``start``; after, in the background at once."""
        if ref in self._entries:
            return
        self._entries[ref] = _Entry(ref, self._clock())
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def disable_scheme(self, scheme: str, reason: str) -> None:
        """Resolve no references of ``scheme`` (``validate --offline`` for vault://); ``reason`` is their status."""
        self._missing[scheme] = reason

    @property
    def references(self) -> list[SecretRef]:
        return list(self._entries)

    def status(self) -> list[SecretStatus]:
        out = []
        now = self._clock()
        for entry in self._entries.values():
            if entry.value is None:
                out.append(SecretStatus(entry.ref.text, False, entry.error))
            elif now - entry.fetched_at > self.settings.max_staleness:
                out.append(SecretStatus(entry.ref.text, False, f"stale: {entry.error}"))
            elif entry.error:
                out.append(SecretStatus(entry.ref.text, True, f"serving the last good value: {entry.error}"))
            else:
                out.append(SecretStatus(entry.ref.text, True, "resolved"))
        return out

    # --- lifetime ----------------------------------------------------------------

    async def start(self) -> None:
        """Start the sources, read every registered reference once, then refresh in the background.

        A reference that does not resolve is logged (by its text) and recorded, not raised:
        calls that need it fail with CREDENTIALS_UNAVAILABLE until it resolves."""
        await self._open()
        statuses = self.status()
        for status in statuses:
            if status.ok:
                log.info("secret %s: %s", status.text, status.detail)
            else:
                log.warning("secret %s does not resolve: %s", status.text, status.detail)
        resolved = sum(status.ok for status in statuses)
        log.info("secrets: %d of %d references resolved", resolved, len(statuses))
        self._task = asyncio.create_task(self._refresh_forever(), name="secret-refresh")

    async def load(self, refs: list[SecretRef]) -> list[SecretStatus]:
        """Read references registered after ``start`` now (starting any source they are the first
        to need), and report on them: a config reload checks its new references this way."""
        assert self._loop is not None, "load() is for a started store"
        for scheme in sorted({ref.scheme for ref in refs} & set(self._sources) - set(self._missing)):
            source = self._sources[scheme]
            if source in self._started_sources:
                continue
            try:
                await source.start()
            except SecretUnavailable as exc:
                self._missing[scheme] = str(exc)
                continue
            self._started_sources.append(source)
        await self.refresh_due()
        wanted = {ref.text for ref in refs}
        return [status for status in self.status() if status.text in wanted]

    async def check(self) -> list[SecretStatus]:
        """Resolve every registered reference once, report, and close (``validate``)."""
        await self._open()
        try:
            return self.status()
        finally:
            await self.aclose()

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        for scheme in sorted({ref.scheme for ref in self._entries} & set(self._sources) - set(self._missing)):
            source = self._sources[scheme]
            try:
                await source.start()
            except SecretUnavailable as exc:
                self._missing[scheme] = str(exc)
                log.warning("secret source %s:// is unavailable: %s", scheme, exc)
                continue
            self._started_sources.append(source)
        await self.refresh_due()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for source in reversed(self._started_sources):
            await source.aclose()
        self._started_sources.clear()
        self._loop = None

    # --- background refresh -----------------------------------------------------

    async def refresh_due(self) -> None:
        """Read every value whose refresh time has come (one pass at a time)."""
        async with self._refreshing:
            now = self._clock()
            for entry in [e for e in self._entries.values() if e.next_refresh <= now]:
                await self._refresh(entry)

    async def _refresh_forever(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self.refresh_due()
            except Exception:  # a bug in one refresh must not end refreshing for good
                log.exception("secret refresh failed unexpectedly")
            now = self._clock()
            due = min((e.next_refresh for e in self._entries.values()), default=now + self.settings.refresh_interval)
            self._wake.clear()
            await wait_event(self._wake, max(0.0, due - now))

    async def _refresh(self, entry: _Entry) -> None:
        ref = entry.ref
        source = self._sources.get(ref.scheme)
        try:
            if source is None or ref.scheme in self._missing:
                raise SecretUnavailable(self._missing.get(ref.scheme, f"no source for {ref.scheme}:// references"))
            fetched = await asyncio.to_thread(source.fetch, ref)
        except SecretUnavailable as exc:
            self._failed(entry, str(exc))
            return
        except Exception as exc:  # a source bug: report its type only, the message might hold data
            log.exception("secret %s: unexpected error from the %s:// source", ref.text, ref.scheme)
            self._failed(entry, f"{ref.text}: unexpected {type(exc).__name__} from the {ref.scheme}:// source")
            return
        now = self._clock()
        if fetched.value != entry.value:
            entry.version += 1
            if entry.value is not None:
                log.info("secret %s changed (version %d)", ref.text, entry.version)
        if entry.error and entry.value is not None:
            log.info("secret %s: read again after %d failed attempts", ref.text, entry.failures)
        entry.value = fetched.value
        entry.fetched_at = now
        entry.error = ""
        entry.failures = 0
        interval = self.settings.refresh_interval
        if fetched.lease_seconds:  # renew well inside the lease, never after it
            interval = min(interval, max(fetched.lease_seconds * 2 / 3, 1.0))
        entry.next_refresh = now + interval

    def _failed(self, entry: _Entry, reason: str) -> None:
        now = self._clock()
        entry.error = reason.removeprefix(f"{entry.ref.text}: ")
        entry.failures += 1
        entry.next_refresh = now + min(self.settings.retry_interval, self.settings.refresh_interval)
        self.refresh_failures += 1
        self._failure_counter.add(1, {"secret.ref": entry.ref.text, "secret.scheme": entry.ref.scheme})
        if entry.value is not None:
            age = now - entry.fetched_at
            log.warning(
                "secret %s: refresh failed, serving the last good value read %.0fs ago (max staleness %gs): %s",
                entry.ref.text,
                age,
                self.settings.max_staleness,
                entry.error,
            )
        elif self._task is not None:
            log.warning("secret %s does not resolve: %s", entry.ref.text, entry.error)
