"""Seed 004's "Test Connection": per API, is the base URL reachable (DNS, TCP, TLS), are the
credentials valid, does each endpoint answer, do responses match their schemas.

Requests go through the sidecar's own pipeline (``Sidecar.handle``): credentials are injected,
limits, egress policy and tracing apply exactly as for an agent's call, and nothing secret is
shown. An endpoint is called only when that is safe: a GET or HEAD with no required argument,
or an operation that declares ``test_arguments`` (the only way a POST, PUT, PATCH or DELETE is
ever sent). Authentication is judged by the API's ``health_check`` operation, else the first
endpoint that was called: 401 or 403 there means the credentials were rejected.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from custom_api_client import build_invoke_request

from .activity import ConnectionResult
from .errors import SidecarError
from .pipeline import Call
from .pipeline.check_response import mismatch
from .registry import Api, Operation

if TYPE_CHECKING:
    from .app import Sidecar

PASS, FAIL, SKIP = "pass", "fail", "skip"
STEP_TIMEOUT = 10.0  # seconds for each DNS, TCP and TLS step
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Check:
    name: str  # dns | tcp | tls | auth | endpoint:<operation>
    status: str  # pass | fail | skip
    detail: str
    elapsed: float = 0.0  # seconds


@dataclass(frozen=True)
class ApiReport:
    api: str
    base_url: str
    checks: tuple[Check, ...]
    checked_at: float = 0.0  # epoch seconds: when the checks started

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    @property
    def summary(self) -> str:
        ran = [c for c in self.checks if c.status != SKIP]
        failed = [c for c in ran if c.status == FAIL]
        text = f"{len(ran) - len(failed)} of {len(ran)} checks passed"
        return f"{text}; {failed[0].name}: {failed[0].detail}" if failed else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "base_url": self.base_url,
            "ok": self.ok,
            "summary": self.summary,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "elapsed_ms": round(c.elapsed * 1000, 1)}
                for c in self.checks
            ],
        }

    def as_text(self) -> str:
        lines = [f"{self.api} ({self.base_url}): {'PASS' if self.ok else 'FAIL'}, {self.summary}"]
        for c in self.checks:
            timing = f" ({c.elapsed * 1000:.1f} ms)" if c.status != SKIP else ""
            lines.append(f"  {c.status:<4}  {c.name:<24} {c.detail}{timing}")
        return "\n".join(lines)


class ConnectionChecker:
    def __init__(self, sidecar: Sidecar) -> None:
        self._sidecar = sidecar

    async def run(self, apis: Iterable[str] | None = None) -> list[ApiReport]:
        """Check the given APIs (default: all), one after another; results also go to the
        sidecar's connection status (the dashboard's Status column)."""
        names = list(apis) if apis is not None else list(self._sidecar.registry.apis)
        reports = []
        for name in names:
            api = self._sidecar.registry.api(name)  # UNKNOWN_API with suggestions
            started = time.time()
            report = ApiReport(name, api.base_url, tuple(await self._check(api)), started)
            self._sidecar.connection_status.record(ConnectionResult(name, report.ok, time.time(), report.summary))
            reports.append(report)
        return reports

    async def _check(self, api: Api) -> list[Check]:
        checks: list[Check] = []
        address = await self._dns(api, checks)
        if address is not None:
            await self._tcp_and_tls(api, address, checks)
        endpoint_checks, statuses = await self._endpoints(api)
        checks.append(await self._auth(api, statuses))
        return checks + endpoint_checks

    async def _dns(self, api: Api, checks: list[Check]) -> str | None:
        from .egress import CheckedResolver, EgressRefused

        egress = self._sidecar.egress[api.name]
        started = time.perf_counter()
        try:
            answers = await asyncio.wait_for(
                CheckedResolver(egress.policy, egress.lookup).checked(api.host, api.port), STEP_TIMEOUT
            )
        except EgressRefused as exc:
            checks.append(Check("dns", FAIL, str(exc), time.perf_counter() - started))
            return None
        except (OSError, TimeoutError) as exc:
            checks.append(
                Check("dns", FAIL, f"{api.host} does not resolve ({_reason(exc)})", time.perf_counter() - started)
            )
            return None
        addresses = ", ".join(str(address) for _, address in answers)
        checks.append(Check("dns", PASS, f"{api.host} -> {addresses}", time.perf_counter() - started))
        return str(answers[0][1])

    async def _tcp_and_tls(self, api: Api, address: str, checks: list[Check]) -> None:
        egress = self._sidecar.egress[api.name]
        if egress.proxy_for(api.base_url) is not None:
            reason = "through a forward proxy: checked by the requests below"
            checks += [Check("tcp", SKIP, reason), Check("tls", SKIP, reason)]
            return
        started = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, api.port), STEP_TIMEOUT)
            writer.close()
        except (OSError, TimeoutError) as exc:
            checks.append(Check("tcp", FAIL, f"{address}:{api.port}: {_reason(exc)}", time.perf_counter() - started))
            return
        checks.append(Check("tcp", PASS, f"connected to {address}:{api.port}", time.perf_counter() - started))
        if not api.origin.startswith("https://"):
            checks.append(Check("tls", SKIP, "plain http (connection.allow_http)"))
            return
        started = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address, api.port, ssl=egress.tls.context(), server_hostname=api.host),
                STEP_TIMEOUT,
            )
        except ssl.SSLError as exc:
            checks.append(Check("tls", FAIL, f"handshake failed: {exc.reason or exc}", time.perf_counter() - started))
            return
        except (OSError, TimeoutError, SidecarError) as exc:
            checks.append(Check("tls", FAIL, _reason(exc), time.perf_counter() - started))
            return
        tls = writer.get_extra_info("ssl_object")
        cert = tls.getpeercert() if tls is not None else None
        writer.close()
        expiry = ""
        if cert and cert.get("notAfter"):
            days = int((ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) // 86_400)
            expiry = f", certificate valid for {days} more days"
        version = tls.version() if tls is not None else "TLS"
        checks.append(Check("tls", PASS, f"{version}{expiry}", time.perf_counter() - started))

    async def _endpoints(self, api: Api) -> tuple[list[Check], dict[str, int]]:
        checks, statuses = [], {}
        for op in api.operations.values():
            if op.context_bindings:  # a check runs in no conversation: it has no trusted context to bind
                keys = ", ".join(sorted({b.key for b in op.context_bindings.values()}))
                checks.append(Check(f"endpoint:{op.name}", SKIP, f"not called: it takes context values ({keys})"))
                continue
            arguments = op.endpoint.test_arguments
            safe = op.method in SAFE_METHODS and not _required(op)
            if arguments is None and not safe:
                why = "has required arguments" if op.method in SAFE_METHODS else f"is a {op.method}"
                checks.append(Check(f"endpoint:{op.name}", SKIP, f"not called: it {why} (declare test_arguments)"))
                continue
            check, status = await self._call(api, op, arguments or {})
            checks.append(check)
            if status is not None:
                statuses[op.name] = status
        return checks, statuses

    async def _call(self, api: Api, op: Operation, arguments: dict[str, Any]) -> tuple[Check, int | None]:
        request = build_invoke_request(api.name, op.name, (), arguments)  # as conv.api.<api>.<op>(**arguments)
        name = f"endpoint:{op.name}"
        started = time.perf_counter()
        try:
            response = await self._sidecar.handle(Call(request=request, force_refresh=True))
        except SidecarError as err:
            return Check(name, FAIL, f"{err.code_name}: {err.message}", time.perf_counter() - started), None
        elapsed = time.perf_counter() - started
        where = f"{op.method} {op.endpoint.path} answered {response.status_code}"
        if not 200 <= response.status_code < 300:
            return Check(name, FAIL, where, elapsed), response.status_code
        if op.response_validator is not None and response.body:
            problem = mismatch(op.response_validator, response)
            if problem is not None:
                return Check(
                    name, FAIL, f"{where}, but the body fails response_schema at {problem[0]}: {problem[1]}", elapsed
                ), response.status_code
            where += ", body matches response_schema"
        return Check(name, PASS, where, elapsed), response.status_code

    async def _auth(self, api: Api, statuses: dict[str, int]) -> Check:
        auth = self._sidecar.authenticators.get(api.name)
        if auth is None:
            return Check("auth", SKIP, "no authentication configured")
        started = time.perf_counter()
        try:
            await auth.credentials(STEP_TIMEOUT)  # an OAuth2 token, or every referenced secret
        except SidecarError as err:
            return Check("auth", FAIL, f"{err.code_name}: {err.message}", time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        obtained = "token obtained" if auth.type == "oauth2" else "credentials resolved"
        probe = api.config.health_check or next(iter(statuses), "")
        if probe not in statuses:
            return Check("auth", PASS, f"{auth.type}: {obtained}; no endpoint was called to confirm them", elapsed)
        status = statuses[probe]
        if status in (401, 403):
            return Check(
                "auth", FAIL, f"{auth.type}: {probe} answered {status}: the credentials were rejected", elapsed
            )
        return Check("auth", PASS, f"{auth.type}: {obtained}; {probe} answered {status}", elapsed)


def _required(op: Operation) -> bool:
    return (
        any(p.required for p in op.parameters.values()) or bool(op.body_required) or op.endpoint.request_body_required
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SidecarError):
        return f"{exc.code_name}: {exc.message}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {STEP_TIMEOUT:g} s"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def reports_json(reports: list[ApiReport]) -> str:
    return json.dumps([report.as_dict() for report in reports], indent=2)
