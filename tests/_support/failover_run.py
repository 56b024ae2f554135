"""One failover, measured: sidecars under a steady load of background calls and rate-limited calls
while the test kills a Redis primary, waits for the promotion, then brings the dead node back.

What it records is what fleet mode promises through a failover: every background call answered
202 (with its job id), every limited call's outcome and latency, when each phase happened, and
how many jobs each sidecar kept in its own store for want of a replicated Redis.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from custom_api_client import connect, errors


@dataclass
class FailoverRun:
    accepted: dict[int, str] = field(default_factory=dict)  # job number -> job id (answered 202)
    refused: Counter[str] = field(default_factory=Counter)  # background calls not accepted, by code
    limited: list[tuple[float, str, float]] = field(default_factory=list)  # (when, outcome, seconds)
    started_at: float = 0.0
    killed_at: float = 0.0
    fell_back_at: float = 0.0  # the first sidecar noticed
    promoted_at: float = 0.0
    resumed_at: float = 0.0  # every sidecar shares again
    restored_at: float = 0.0  # the dead node is back (as a replica)
    kept_locally: list[int] = field(default_factory=list)  # per sidecar, at the end
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admitted(self) -> int:
        return sum(1 for _, outcome, _ in self.limited if outcome == "200")

    def slowest(self) -> float:
        return max(seconds for _, _, seconds in self.limited)

    def at(self, moment: float) -> str:
        return f"{moment - self.killed_at:+.1f} s"


def run_failover(
    sidecars: list[Any],
    kill: Callable[[], float],
    promoted: Callable[[], float],
    restore: Callable[[], None],
    *,
    before_s: float = 2.0,
    after_s: float = 2.0,
) -> FailoverRun:
    """``sidecars``: ThreadedSidecar with the APIs ``tickets`` (``run(n)``: POST /jobs/<n>) and
    ``limited`` (``ping()``)."""
    run = FailoverRun()
    stop = threading.Event()
    numbers = iter(range(1, 1_000_000))
    numbers_lock = threading.Lock()

    def submit(target: str) -> None:
        with connect(target) as conv:
            while not stop.is_set():
                with numbers_lock:
                    n = next(numbers)
                try:
                    accepted = conv.api.tickets.run(n, background=True)
                    with run.lock:
                        run.accepted[n] = accepted.job_id
                except errors.CustomApiError as exc:
                    with run.lock:
                        run.refused[exc.code] += 1
                time.sleep(0.01)

    def limited(target: str) -> None:
        with connect(target) as conv:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    outcome = str(conv.api.limited.ping().status_code)
                except errors.CustomApiError as exc:
                    outcome = exc.code
                with run.lock:
                    run.limited.append((time.monotonic(), outcome, time.perf_counter() - began))
                time.sleep(0.05)

    threads = [
        threading.Thread(target=work, args=(sidecar.unix_target,), daemon=True)
        for sidecar in sidecars
        for work in (submit, limited)
    ]
    run.started_at = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        time.sleep(before_s)
        fallbacks = [s.sidecar.fleet.redis.fallbacks for s in sidecars]
        run.killed_at = kill()
        watcher = threading.Thread(target=_first_fallback, args=(run, sidecars, fallbacks, stop), daemon=True)
        watcher.start()
        run.promoted_at = promoted()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(s.sidecar.fleet.redis.available for s in sidecars):
            time.sleep(0.02)
        run.resumed_at = time.monotonic()
        time.sleep(after_s)
        restore()
        run.restored_at = time.monotonic()
        time.sleep(after_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    run.kept_locally = [s.sidecar.jobs.store.kept_locally for s in sidecars]
    return run


def _first_fallback(run: FailoverRun, sidecars: list[Any], before: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        if any(s.sidecar.fleet.redis.fallbacks > b for s, b in zip(sidecars, before, strict=True)):
            run.fell_back_at = time.monotonic()
            return
        time.sleep(0.005)


def wait_delivered(upstream: Any, numbers: set[int], timeout: float = 60) -> Counter[int]:
    """Until every job number reached the upstream (or the timeout): how often each arrived."""
    deadline = time.monotonic() + timeout
    while True:
        with upstream.lock:
            seen = Counter(int(r["path"].split("?")[0].rsplit("/", 1)[1]) for r in upstream.requests
                           if r["path"].startswith("/jobs/"))  # fmt: skip
        if numbers <= set(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def summary(name: str, run: FailoverRun, seen: Counter[int], limit: int) -> str:
    accepted = set(run.accepted)
    duplicates = sum(count - 1 for n, count in seen.items() if n in accepted and count > 1)
    latencies = sorted(seconds for _, _, seconds in run.limited)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    return (
        f"\n{name} failover: primary SIGKILLed at 0 s; first fallback {run.at(run.fell_back_at)}, replica "
        f"promoted {run.at(run.promoted_at)}, fleet-wide again {run.at(run.resumed_at)}, dead node back "
        f"{run.at(run.restored_at)}.\n  background calls: {len(accepted)} answered 202 "
        f"({sum(run.kept_locally)} kept in local stores), {sum(run.refused.values())} refused {dict(run.refused)}; "
        f"{len(accepted & set(seen))} of {len(accepted)} reached the upstream, {duplicates} duplicate run(s).\n"
        f"  limited calls: {len(latencies)}, {run.admitted()} admitted against a limit of {limit}/min "
        f"(overshoot {run.admitted() - limit}); latency p99 {p99 * 1000:.0f} ms, max {run.slowest() * 1000:.0f} ms"
    )
