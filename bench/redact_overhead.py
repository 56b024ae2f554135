"""What redacting echoed credentials costs per call (not a test): ``python -m bench.redact_overhead``.

The step the authenticate stage runs on every response of an API with credentials
(``pipeline/redact.py``: find the call's secrets, redact the body, the headers and the reason),
timed in process on the response shapes that matter, for each auth type's list of secrets:
  1 KB JSON, no echo        the common case: one ``bytes.find`` per secret
  100 KB JSON, no echo      the same search over a large body
  1 KB JSON with an echo    httpbin's /headers-style body holding the credential as sent
  100 KB JSON with an echo  the echo at the end of a large body
Each figure is the median of --repeat runs of --calls calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable

from custom_api_sidecar.pipeline import UpstreamResponse
from custom_api_sidecar.pipeline.redact import echoes

KEY = "bench-key-0123456789abcdef"
TOKEN = "bench-token-0123456789abcdef"
PASSWORD = "bench-pass-012345"
ENCODED = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
QUERY_KEY = "bench/key+with=special chars"  # no run of plain characters covers it: the slow path
# What each auth type lists in Credentials.secrets (auth/*.py).
SECRETS = {
    "api_key (header)": (KEY,),
    "api_key (query, special chars)": (QUERY_KEY,),
    "bearer_token": (TOKEN, f"Bearer {TOKEN}"),
    "basic_auth": (PASSWORD, ENCODED, f"Basic {ENCODED}"),
}
ECHOED = {
    "api_key (header)": KEY,
    "api_key (query, special chars)": "bench/key%2Bwith%3Dspecial+chars",
    "bearer_token": f"Bearer {TOKEN}",
    "basic_auth": f"Basic {ENCODED}",
}
HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", "0"),
    ("Date", "Mon, 01 Jan 2026 00:00:00 GMT"),
    ("Server", "bench"),
]


def json_body(size: int, echo: str | None) -> bytes:
    items = []
    while len(json.dumps(items)) < size:
        items.append({"id": len(items), "name": f"customer {len(items)}", "email": f"c{len(items)}@example.com"})
    document: dict[str, object] = {"items": items}
    if echo is not None:
        document["headers"] = {"Authorization": echo, "Accept": "*/*"}
    return json.dumps(document).encode()


def per_call(step: Callable[[], object], calls: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


def measure(secrets: tuple[str, ...], body: bytes, calls: int, repeat: int) -> float:
    def step() -> None:
        response = UpstreamResponse(200, "OK", list(HEADERS), body, 0.0, "https://bench")
        echoes(secrets).redact(response, frozenset({"authorization"}))

    def baseline() -> None:  # building the response alone, subtracted
        UpstreamResponse(200, "OK", list(HEADERS), body, 0.0, "https://bench")

    return per_call(step, calls, repeat) - per_call(baseline, calls, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per run (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure; the median is shown (default 7)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    shapes = {
        "1 KB, no echo": lambda echo: json_body(1024, None),
        "100 KB, no echo": lambda echo: json_body(100 * 1024, None),
        "1 KB, echo": lambda echo: json_body(1024, echo),
        "100 KB, echo": lambda echo: json_body(100 * 1024, echo),
    }
    results: dict[str, dict[str, float]] = {}
    print(f"{'auth type':32}" + "".join(f"{shape:>18}" for shape in shapes) + "   (us per call)")
    for auth, secrets in SECRETS.items():
        row = results[auth] = {}
        for shape, make in shapes.items():
            body = make(ECHOED[auth])
            row[shape] = measure(secrets, body, args.calls, args.repeat)
            if "echo" in shape and "no echo" not in shape:
                response = UpstreamResponse(200, "OK", list(HEADERS), body, 0.0, "https://bench")
                echoes(secrets).redact(response)
                assert b"REDACTED" in response.body, (auth, shape)  # the echo was found
        print(f"{auth:32}" + "".join(f"{row[shape]:>18.2f}" for shape in shapes))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
