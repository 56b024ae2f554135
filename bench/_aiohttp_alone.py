"""The HTTP floor: aiohttp's client alone, at the benchmark's open-loop rate, in its own process.

``python -m bench._aiohttp_alone URL RATE SECONDS`` prints one JSON line: this process's CPU
seconds per 1,000 requests (its open-loop driver included) and the latency summary.
"""

from __future__ import annotations

import json
import sys
import time

import aiohttp
import uvloop

from ._load import open_loop


async def _main(url: str, rate: float, seconds: float) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:

        async def call() -> None:
            async with session.get(url) as response:
                await response.read()
                response.raise_for_status()

        for _ in range(300):
            await call()
        before = time.process_time()
        result = await open_loop(call, rate, seconds)
        cpu = time.process_time() - before
    requests = len(result.samples_us) + result.errors
    return {"cpu_s_per_1000": cpu / requests * 1000, **result.summary()}


if __name__ == "__main__":
    print(json.dumps(uvloop.run(_main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))))
