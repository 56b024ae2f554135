"""TestConnection as the agent's listener serves it: each API checked at most once per window.

A connection test calls every safe endpoint of every API it names, and the agent (often an LLM)
may ask for one as often as it likes. So over the agent's gRPC listener an API is checked at most
once per ``window_s`` (30 s): a request while that API's checks are running waits for them, and a
request within ``window_s`` after they finished gets the same report again, marked ``reused``,
with the seconds until a new run (``next_run_in``). Nothing is sent upstream for either. A request
naming several APIs gets a fresh report for some and a reused one for others.

Why the report and not RATE_LIMITED: the caller asked whether the API works, and a report at most
``window_s`` old answers that (a dashboard polling every few seconds keeps showing it); a refusal
would only make it ask again. A reload that changes an API's definition starts a new window for
that API, since the earlier report describes the old definition.

The operator turns it off with ``serve --agent-test-connection off``: every request then gets
DISABLED_BY_OPERATOR and nothing runs. ``custom-api-sidecar test`` (the operator's CLI) runs
``ConnectionChecker`` itself: no window, always available.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from custom_api_client.proto import sidecar_pb2 as pb

from .connection_check import ApiReport, ConnectionChecker
from .errors import SidecarError

if TYPE_CHECKING:
    from .app import Sidecar
    from .config import ApiConfig
    from .registry import Api, Registry

__all__ = ["DEFAULT_WINDOW_S", "AgentConnectionTests", "AgentReport", "AgentTestSettings"]

DEFAULT_WINDOW_S = 30.0
TURNED_OFF = (
    "TestConnection from the agent is turned off by this sidecar's operator (serve --agent-test-connection "
    "off); the operator can still run `custom-api-sidecar test`"
)


@dataclass(frozen=True)
class AgentTestSettings:
    """The operator's settings: ``enabled`` (``--agent-test-connection on|off``) and the window."""

    enabled: bool = True
    window_s: float = DEFAULT_WINDOW_S


@dataclass(frozen=True)
class AgentReport:
    report: ApiReport
    reused: bool  # the checks of an earlier request's run: nothing was sent for this one
    next_run_in: float  # seconds until a request would check the API again

    def to_proto(self) -> pb.ApiCheckResult:
        r = self.report
        return pb.ApiCheckResult(
            api=r.api,
            ok=r.ok,
            summary=r.summary,
            base_url=r.base_url,
            checks=[
                pb.CheckResult(name=c.name, status=c.status, detail=c.detail, elapsed_seconds=c.elapsed)
                for c in r.checks
            ],
            checked_at=r.checked_at,
            reused=self.reused,
            next_run_in_seconds=self.next_run_in,
        )


@dataclass
class _Run:
    """One API's latest run: under way until its task is done, then fresh until ``fresh_until``."""

    config: ApiConfig  # the definition it checked
    task: asyncio.Task[ApiReport]
    fresh_until: float = math.inf  # on the clock; set when the run finishes


class AgentConnectionTests:
    def __init__(
        self,
        sidecar: Sidecar,
        settings: AgentTestSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sidecar = sidecar
        self.settings = settings or AgentTestSettings()
        self._clock = clock
        self._runs: dict[str, _Run] = {}  # by API name; only configured names get in

    async def run(self, apis: Sequence[str]) -> list[AgentReport]:
        """One report per API named (each once, in order; none named: every API). Every name is
        checked (UNKNOWN_API) before anything runs; DISABLED_BY_OPERATOR when turned off."""
        if not self.settings.enabled:
            raise SidecarError(pb.ErrorCode.DISABLED_BY_OPERATOR, TURNED_OFF)
        registry = self._sidecar.registry
        chosen = [registry.api(name) for name in dict.fromkeys(apis)] or list(registry.apis.values())
        self._forget_removed(registry)
        return [await self._report(api) for api in chosen]  # one API after another, as the CLI does

    async def _report(self, api: Api) -> AgentReport:
        run = self._runs.get(api.name)
        reused = run is not None and _same(run.config, api.config) and self._clock() < run.fresh_until
        if run is None or not reused:
            run = _Run(api.config, asyncio.create_task(self._check(api.name), name=f"test-connection:{api.name}"))
            run.task.add_done_callback(functools.partial(self._finished, api.name, run))  # before any waiter's
            self._runs[api.name] = run
        # shielded: a caller that gives up (deadline, cancel) leaves the run to finish for the others
        report = await asyncio.shield(run.task)
        next_run_in = run.fresh_until - self._clock() if math.isfinite(run.fresh_until) else self.settings.window_s
        return AgentReport(report, reused, max(0.0, next_run_in))

    async def _check(self, name: str) -> ApiReport:
        (report,) = await ConnectionChecker(self._sidecar).run([name])
        return report

    def _finished(self, name: str, run: _Run, task: asyncio.Task[ApiReport]) -> None:
        if task.cancelled() or task.exception() is not None:  # no report to keep: the next request runs again
            if self._runs.get(name) is run:
                del self._runs[name]
            return
        run.fresh_until = self._clock() + self.settings.window_s

    def _forget_removed(self, registry: Registry) -> None:
        for name in [name for name in self._runs if name not in registry.apis]:
            del self._runs[name]

    async def aclose(self) -> None:
        """Cancel runs still under way (the server is stopping)."""
        tasks = [run.task for run in self._runs.values() if not run.task.done()]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._runs.clear()


def _same(a: ApiConfig, b: ApiConfig) -> bool:
    return a is b or a == b
