"""Recent activity for the dashboard: a bounded buffer of call records, per-API counters, and
the latest connection test per API. Memory only; bounded by ``capacity`` records.

Seed 004's two screens read it: the APIs list (``apis()``) and the API logs (``calls()``).
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .pipeline._call import Call
from .pipeline.record import CallRecord
from .registry import Registry

DEFAULT_CAPACITY = 5000
FAILING_AFTER = 5  # this many failed calls in a row mark an API failing


@dataclass(frozen=True)
class ConnectionResult:
    """The latest connection test of one API (``custom-api-sidecar test`` / TestConnection)."""

    api: str
    ok: bool
    checked_at: float  # epoch seconds
    summary: str  # one line, e.g. "4 of 5 checks passed: auth: token endpoint answered 401"


class ConnectionStatus:
    def __init__(self) -> None:
        self._latest: dict[str, ConnectionResult] = {}

    def record(self, result: ConnectionResult) -> None:
        self._latest[result.api] = result

    def latest(self, api: str) -> ConnectionResult | None:
        return self._latest.get(api)


class _ApiCounters:
    __slots__ = ("day", "last_used", "streak", "today")

    def __init__(self) -> None:
        self.day = ""
        self.today = 0
        self.last_used: float | None = None
        self.streak = 0  # consecutive failed calls


class Activity:
    """A call observer keeping what the dashboard shows."""

    def __init__(
        self,
        connection_status: ConnectionStatus,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry: Registry | None = None
        self._status = connection_status
        self._records: collections.deque[CallRecord] = collections.deque(maxlen=capacity)
        self._counters: dict[str, _ApiCounters] = {}
        self._clock = clock

    def use(self, registry: Registry) -> None:
        """The APIs to list: at start, and after each config reload (the buffered calls stay)."""
        self._registry = registry
        for name in registry.apis:
            self._counters.setdefault(name, _ApiCounters())

    def started(self, call: Call) -> None:
        pass

    def finished(self, record: CallRecord) -> None:
        self._records.append(record)
        counters = self._counters.get(record.api_label)
        if counters is None:  # an unknown API: the logs show it, the list does not
            return
        day = _day(int(record.time // 86_400))
        if counters.day != day:
            counters.day, counters.today = day, 0
        counters.today += 1
        counters.last_used = record.time
        counters.streak = 0 if record.ok else counters.streak + 1

    def calls(
        self,
        endpoint: str = "",
        since_seconds: float | None = None,
        status: str = "",
        conversation: str = "",
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Newest first. ``endpoint`` is ``api`` or ``api.operation``; ``status`` is ``ok``,
        ``error`` (any failure), ``2xx``/``4xx``/``5xx``, or a sidecar error code."""
        now = self._clock()
        out: list[dict[str, Any]] = []
        for record in reversed(self._records):
            if since_seconds is not None and record.time < now - since_seconds:
                break  # records are in time order
            if endpoint and endpoint not in (record.api, f"{record.api}.{record.operation}"):
                continue
            if status and not _status_matches(record, status):
                continue
            if conversation and record.conversation_id != conversation:
                continue
            out.append(
                {
                    "time": record.audit()["time"],
                    "endpoint": f"{record.api}.{record.operation}",
                    "method": record.method,
                    "status": record.status,
                    "error": record.error,
                    "latency_ms": round(record.elapsed * 1000, 1),
                    "conversation_id": record.conversation_id,
                    "trace_id": record.trace_id,
                }
            )
            if len(out) >= limit:
                break
        return out

    def apis(self) -> list[dict[str, Any]]:
        day_ago = self._clock() - 86_400
        recent: dict[str, list[CallRecord]] = collections.defaultdict(list)
        for record in self._records:
            if record.time >= day_ago:
                recent[record.api_label].append(record)  # unknown names: one "(unknown)" key
        out: list[dict[str, Any]] = []
        assert self._registry is not None, "use() a registry first"
        for name, api in self._registry.apis.items():
            counters = self._counters[name]
            records = recent.get(name, [])
            latencies = sorted(r.elapsed * 1000 for r in records)
            errors: collections.Counter[str] = collections.Counter(
                r.error or f"HTTP {r.status}" for r in records if not r.ok
            )
            today = counters.today if counters.day == time.strftime("%Y-%m-%d", time.gmtime(self._clock())) else 0
            out.append(
                {
                    "name": name,
                    "display_name": api.config.display_name,
                    "status": self._api_status(name, counters),
                    "host": api.host,
                    "auth": api.config.authentication.type,
                    "endpoints": len(api.operations),
                    "last_used": CallRecord.audit(records[-1])["time"] if records else None,
                    "calls_today": today,
                    "success_rate": round(sum(r.ok for r in records) / len(records), 4) if records else None,
                    "avg_ms": round(sum(latencies) / len(latencies), 1) if latencies else None,
                    "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1)
                    if latencies
                    else None,
                    "errors": dict(errors.most_common()),
                }
            )
        return out

    def _api_status(self, name: str, counters: _ApiCounters) -> dict[str, Any]:
        test = self._status.latest(name)
        if counters.streak >= FAILING_AFTER:
            return {"state": "failing", "detail": f"the last {counters.streak} calls failed"}
        if test is not None and not test.ok and (counters.last_used is None or counters.last_used < test.checked_at):
            return {"state": "failing", "detail": f"connection test: {test.summary}"}
        if test is not None and test.ok:
            return {"state": "connected", "detail": f"connection test passed: {test.summary}"}
        if counters.last_used is not None:
            return {"state": "connected", "detail": "recent calls succeed"}
        return {"state": "unknown", "detail": "not tested and not used yet"}


@functools.lru_cache(maxsize=4)
def _day(epoch_day: int) -> str:
    """``YYYY-MM-DD`` of a day number, formatted once per day, not once per call."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_day * 86_400))


def _status_matches(record: CallRecord, wanted: str) -> bool:
    if wanted == "ok":
        return record.ok
    if wanted == "error":
        return not record.ok
    if wanted in ("2xx", "3xx", "4xx", "5xx"):
        return record.status is not None and str(record.status)[0] == wanted[0]
    return record.error == wanted
