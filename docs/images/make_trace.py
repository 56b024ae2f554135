"""Make docs/images/trace.png: one real call's trace, drawn as a waterfall.

    python docs/images/make_trace.py            # from the checkout, with the test venv

It starts the walkthrough's demo upstream (examples/demo_upstream.py) and a real
``custom-api-sidecar serve`` exporting spans over OTLP/gRPC to a small OTLP receiver
(tests/_support/otlp_receiver.py, the same protocol Jaeger ingests on 4317). An agent with its
own tracer opens a span and calls two operations through the sidecar; the agent's spans and the
spans the sidecar exported are joined by trace id, drawn as an HTML waterfall, and screenshotted
by headless Chromium (Debian's chromium and chromium-driver, as the dashboard test uses).
Jaeger's own UI cannot be installed here, so the picture is this page's, not Jaeger's; the spans
are the ones Jaeger would receive.
"""

from __future__ import annotations

import html
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "client"), str(ROOT / "sidecar")]

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from custom_api_client import connect  # noqa: E402
from tests._support.otlp_receiver import OtlpReceiver  # noqa: E402

OUT = Path(__file__).with_name("trace.png")
SIDECAR = Path(sys.executable).with_name("custom-api-sidecar")
SHOWN_ATTRIBUTES = ("custom_api.api", "http.request.method", "http.response.status_code", "url.full", "rpc.method")


@dataclass(frozen=True)
class Row:
    service: str
    name: str
    kind: str
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    attributes: dict[str, object]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"make_trace: timed out waiting for {what}")
        time.sleep(0.05)


def run_call(workdir: Path) -> list[Row]:
    """Serve examples/apis.yaml against the demo upstream and make one traced agent turn."""
    port = free_port()
    config = workdir / "apis.yaml"
    config.write_text((ROOT / "examples" / "apis.yaml").read_text().replace("127.0.0.1:8787", f"127.0.0.1:{port}"))
    target = f"unix://{workdir}/sidecar.sock"
    receiver = OtlpReceiver()
    env = {
        **os.environ,
        "DEMO_CRM_TOKEN": "demo-crm-token",
        "DEMO_PAYMENTS_KEY": "demo-payments-key",
        "CUSTOM_API_SIDECAR_POLICY_EGRESS": "private_network,allow_http",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    upstream = subprocess.Popen([sys.executable, str(ROOT / "examples" / "demo_upstream.py"), str(port)], env=env)
    sidecar = subprocess.Popen(
        [str(SIDECAR), "serve", "--config", str(config), "--environment", "live", "--listen", target],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: (workdir / "sidecar.sock").exists(), 60, "the sidecar's socket")
        agent_spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(agent_spans))
        tracer = provider.get_tracer("voice-agent")
        conv = connect(target, conversation_id="conv-7f3a")
        with tracer.start_as_current_span("agent turn: take a payment", kind=SpanKind.INTERNAL):
            conv.api.salesforce.get_contact("123").raise_for_status()
            conv.api.stripe.create_payment(amount=100, json={"amount": 100, "currency": "usd"}).raise_for_status()
        conv.close()
        (turn,) = [s for s in agent_spans.get_finished_spans() if s.parent is None]
        trace_id = turn.context.trace_id
        wait_until(lambda: len([s for s in receiver.spans() if s.trace_id == trace_id]) >= 4, 30, "4 sidecar spans")
        rows = [
            Row(
                "voice-agent",
                s.name,
                s.kind.name.lower(),
                s.context.span_id,
                s.parent.span_id if s.parent else None,
                s.start_time or 0,
                s.end_time or 0,
                dict(s.attributes or {}),
            )
            for s in agent_spans.get_finished_spans()
        ]
        rows += [
            Row(
                str(s.resource.get("service.name", "custom-api-sidecar")),
                s.name,
                {1: "internal", 2: "server", 3: "client"}.get(s.span.kind, "span"),
                s.span_id,
                s.parent_span_id,
                s.span.start_time_unix_nano,
                s.span.end_time_unix_nano,
                s.attributes,
            )
            for s in receiver.spans()
            if s.trace_id == trace_id
        ]
        provider.shutdown()
        return ordered(rows)
    finally:
        for process in (sidecar, upstream):
            process.send_signal(signal.SIGTERM)
            process.wait(15)
        receiver.stop()


def ordered(rows: list[Row]) -> list[Row]:
    """Depth-first from the root, children by start time: the order a trace viewer draws."""
    children: dict[int | None, list[Row]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    out: list[Row] = []

    def walk(parent: int | None) -> None:
        for row in sorted(children.get(parent, []), key=lambda r: r.start_ns):
            out.append(row)
            walk(row.span_id)

    walk(None)
    return out


def depth(row: Row, rows: list[Row]) -> int:
    by_id = {r.span_id: r for r in rows}
    level, parent = 0, row.parent_id
    while parent in by_id:
        level, parent = level + 1, by_id[parent].parent_id
    return level


def label_position(left: float, width: float) -> str:
    """The duration right of its bar, or left of it when the bar reaches the lane's end."""
    if left + width < 88:
        return f"left:{left + width:.2f}%"
    return f"right:{100 - left:.2f}%;margin-right:6px"


def waterfall(rows: list[Row]) -> str:
    start = min(r.start_ns for r in rows)
    total = max(r.end_ns for r in rows) - start
    colours = {"voice-agent": "#7b61ff", "custom-api-sidecar": "#0a9396"}
    lines = []
    for row in rows:
        left = 100 * (row.start_ns - start) / total
        width = max(0.4, 100 * (row.end_ns - row.start_ns) / total)
        shown = "  ".join(f"{k}={row.attributes[k]}" for k in SHOWN_ATTRIBUTES if k in row.attributes)
        lines.append(
            f'<div class="row"><div class="name" style="padding-left:{16 * depth(row, rows) + 8}px">'
            f'<span class="svc" style="background:{colours.get(row.service, "#888")}">{html.escape(row.service)}</span>'
            f"<b>{html.escape(row.name)}</b> <i>{row.kind}</i><div class='attrs'>{html.escape(shown)}</div></div>"
            f'<div class="lane"><div class="bar" style="left:{left:.2f}%;width:{width:.2f}%;'
            f'background:{colours.get(row.service, "#888")}"></div>'
            f'<span class="ms" style="{label_position(left, width)}">{(row.end_ns - row.start_ns) / 1e6:.1f} ms</span>'
            "</div></div>"
        )
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ font: 13px system-ui, sans-serif; margin: 8px; color: #222; }}
h1 {{ font-size: 16px; margin: 0 0 4px; }} p {{ margin: 0 0 12px; color: #555; }}
.row {{ display: flex; border-top: 1px solid #e4e4e4; min-height: 44px; align-items: center; }}
.name {{ width: 46%; box-sizing: border-box; overflow: hidden; }}
.svc {{ color: white; border-radius: 3px; padding: 1px 5px; margin-right: 6px; font-size: 11px; }}
.attrs {{ color: #666; font: 11px ui-monospace, monospace; white-space: nowrap; margin-top: 3px; }}
.lane {{ position: relative; width: 54%; height: 44px;
  background: repeating-linear-gradient(90deg, transparent 0 calc(25% - 1px), #eee calc(25% - 1px) 25%); }}
.bar {{ position: absolute; top: 14px; height: 14px; border-radius: 2px; }}
.ms {{ position: absolute; top: 13px; margin-left: 6px; font-size: 11px; color: #333; white-space: nowrap; }}
</style><div id="trace" style="padding: 8px"><h1>One agent turn, traced: {len(rows)} spans, {total / 1e6:.1f} ms</h1>
<p>The agent's span, the sidecar's Invoke server spans continuing its trace, and an HTTP client span
under each (spans as exported over OTLP/gRPC; drawn by docs/images/make_trace.py)</p>
{"".join(lines)}</div>"""


def screenshot(page: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        raise SystemExit("make_trace: needs Debian's chromium and chromium-driver (tests/run.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,900")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(page.as_uri())
        # the page's own box, so the picture has no empty window below it
        assert driver.find_element(By.ID, "trace").screenshot(str(OUT)), "chromium saved no screenshot"
    finally:
        driver.quit()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="make-trace-") as tmp:
        workdir = Path(tmp)
        rows = run_call(workdir)
        page = workdir / "trace.html"
        page.write_text(waterfall(rows))
        screenshot(page)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} spans")


if __name__ == "__main__":
    main()
