"""Load shapes: sequential, open-loop at a fixed rate, closed-loop at a fixed concurrency.

Latencies are in microseconds. The open loop measures from each request's
*scheduled* start, so a stall is charged to every request it delays
(no coordinated omission), as the Dapr and wrk2 methods do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Latency:
    samples_us: list[float]
    errors: int = 0
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        s = sorted(self.samples_us)
        return s[min(len(s) - 1, int(len(s) * p / 100))] if s else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "p50_us": self.pct(50),
            "p90_us": self.pct(90),
            "p99_us": self.pct(99),
            "count": len(self.samples_us),
            "errors": self.errors,
            "rps": len(self.samples_us) / self.seconds if self.seconds else float("nan"),
        }


def sequential(fn: Callable[[], object], calls: int, warmup: int = 200) -> Latency:
    for _ in range(warmup):
        fn()
    samples = []
    begin = time.perf_counter()
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return Latency(samples, seconds=time.perf_counter() - begin)


async def open_loop(fn: Callable[[], Awaitable[object]], rate: float, seconds: float) -> Latency:
    """``rate`` requests/s for ``seconds``, each started on schedule whatever the others do."""
    interval = 1.0 / rate
    total = int(rate * seconds)
    result = Latency([])

    async def one(scheduled: float) -> None:
        try:
            await fn()
        except Exception:
            result.errors += 1
            return
        result.samples_us.append((time.perf_counter() - scheduled) * 1e6)

    tasks = []
    begin = time.perf_counter() + 0.01
    for i in range(total):
        scheduled = begin + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - begin
    return result


async def closed_loop(fn: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> Latency:
    """``concurrency`` callers, each calling again as soon as its last call returns."""
    result = Latency([])
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while (start := time.perf_counter()) < stop_at:
            try:
                await fn()
            except Exception:
                result.errors += 1
                continue
            result.samples_us.append((time.perf_counter() - start) * 1e6)

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - begin
    return result
