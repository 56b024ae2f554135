"""Every operation of a spec, called through a real sidecar with generated arguments,
against Prism validating requests against the same spec.

``check_operation`` draws a few arguments per operation (fixed seed, no shrinking) and
returns what went wrong: a request Prism refused (its violations) or a schema-valid
value the sidecar itself refused (its InvalidArgument). Both are disagreements.

``python -m tests._support.conformance [SPEC ...]`` prints, per spec, how many
operations Prism accepted (the numbers in the README); with PYTHONPATH pointing at
another checkout's ``sidecar``/``client`` it measures that code instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from custom_api_client import Response, connect, errors
from tests._support.agent_arguments import arguments
from tests._support.prism import Prism
from tests._support.sidecar import ThreadedSidecar, start_sidecar

PUBLIC_SPECS = pathlib.Path(__file__).parents[1] / "specs" / "public"  # copies of the shared real specs
TOKEN_ENV = "CONFORMANCE_BEARER_TOKEN"
GENERATED_SEEDS = (1, 2, 3)  # the generated specs CI checks (tests/_support/generated_specs.py)
GENERATED_OPERATIONS = 12


@dataclass
class Outcome:
    operation: str
    examples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.examples > 0 and not self.problems


def request_violations(response: Response) -> list[dict[str, Any]]:
    """Where Prism found the request invalid: its ``sl-violations`` header, or a
    problem+json body listing violations (response violations are Prism's own output)."""
    header = response.headers.get("sl-violations") or ""
    try:
        found = json.loads(header) if header else []
    except ValueError:  # a long list comes cut short ("Too many violations! [..."): read the locations
        found = [{"location": json.loads(m), "message": "..."} for m in re.findall(r'"location":(\[[^\]]*\])', header)]
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        found += response.json().get("validation") or []
    return [v for v in found if v.get("location", ["?"])[0] != "response"]


def refusal(response: Response) -> str | None:
    """Why Prism refused the request, or None when it accepted it: a 2xx, or a 500 caused only
    by Prism's own generated response (some real specs' examples do not match their schemas)."""
    violations = request_violations(response)
    if violations:
        return "; ".join(f"{'.'.join(map(str, v.get('location', '?')))}: {v.get('message', v)}" for v in violations)
    if response.ok:
        return None
    if response.status_code == 500 and response.headers.get("content-type", "").startswith("application/problem"):
        found = response.json().get("validation") or []
        if found and all(v["location"][0] == "response" for v in found):
            return None
    return f"HTTP {response.status_code}: {response.text[:300]}"


def check_operation(conv: Any, api: str, operation: dict[str, Any], examples: int) -> Outcome:
    outcome = Outcome(operation["name"])
    call = conv.api[api][operation["name"]]

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: every draw is a call to Prism
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        kwargs = data.draw(arguments(operation))
        outcome.examples += 1
        try:
            response = call(**kwargs)
        except errors.InvalidArgument as exc:
            outcome.problems.append(f"sidecar refused {_short(kwargs)}: {exc}")
            return
        except errors.CustomApiError as exc:  # no answer at all: Prism broke on the request
            outcome.problems.append(f"no answer for {_short(kwargs)}: {type(exc).__name__}: {exc}")
            return
        why = refusal(response)
        if why:
            outcome.problems.append(f"Prism refused {_short(kwargs)}: {why}")

    try:
        run()
    except Unsatisfiable:
        outcome.problems.append(f"no arguments could be drawn from {json.dumps(operation['input_schema'])[:800]}")
    return outcome


def _short(kwargs: dict[str, Any]) -> str:
    text = repr(kwargs)
    return text if len(text) <= 300 else text[:300] + "...}"


def sidecar_config(specs: dict[str, pathlib.Path], prisms: dict[str, Prism]) -> str:
    """One API per spec, its base URL the spec's Prism (which serves the spec's paths at its root)."""
    return "apis:" + "".join(
        f"""
  - name: {name}
    connection: {{allow_http: true, private_network: true, base_url: "{prisms[name].url}",
                  circuit_breaker: {{enabled: false}}}}  # every operation, some answer 5xx on purpose
    openapi: {{spec: "{spec}"}}
    authentication: {{type: bearer_token, config: {{token: "env://{TOKEN_ENV}"}}}}
    validation: {{response: "off"}}
"""
        for name, spec in specs.items()
    )


@contextlib.contextmanager
def prisms_for(specs: dict[str, pathlib.Path]) -> Iterator[dict[str, Prism]]:
    servers: dict[str, Prism] = {}
    try:
        for name, spec in specs.items():  # start together, wait once
            servers[name] = Prism(spec, wait=False)
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@contextlib.contextmanager
def sidecar_for(specs: dict[str, pathlib.Path], prisms: dict[str, Prism]) -> Iterator[ThreadedSidecar]:
    old = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = "conformance-test-token"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            running = start_sidecar(sidecar_config(specs, prisms), f"{tmp}/sidecar.sock")
            try:
                yield running
            finally:
                running.stop()
    finally:
        if old is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = old


def census(specs: dict[str, pathlib.Path], examples: int) -> dict[str, list[Outcome]]:
    with prisms_for(specs) as prisms, sidecar_for(specs, prisms) as sidecar, connect(sidecar.unix_target) as conv:
        return {
            name: [check_operation(conv, name, op, examples) for op in conv.api[name].schema()["operations"]]
            for name in specs
        }


def public_specs() -> dict[str, pathlib.Path]:
    """Every real spec, by an API name made from its file name."""
    files = sorted(p for p in PUBLIC_SPECS.iterdir() if p.suffix in (".json", ".yaml"))
    return {re.sub(r"\W", "_", p.stem): p for p in files}


def not_callable(spec: pathlib.Path) -> list[str]:
    """What the importer leaves out of a spec by design, with the reason: skipped operations,
    cookie parameters and header parameters HTTP itself sets."""
    from custom_api_sidecar.openapi import import_spec

    report = import_spec(str(spec), name="census").report
    notes = [f"skipped {op}: {why}" for op, why in report.skipped]
    return notes + [w for w in report.warnings if "cookie parameter" in w or "header parameter" in w]


def main(argv: list[str]) -> None:
    """Per spec: operations accepted by Prism, and what cannot be called by design."""
    from tests._support.generated_specs import write_generated_spec

    examples = int(os.environ.get("CONFORMANCE_EXAMPLES", "4"))
    with tempfile.TemporaryDirectory() as tmp:
        # The test suite's operator policy (tests/conftest.py): plain http to loopback, specs in the checkout.
        os.environ.setdefault("CUSTOM_API_SIDECAR_POLICY_EGRESS", "private_network,allow_http")
        os.environ.setdefault("CUSTOM_API_SIDECAR_POLICY_SPEC_DIRS", f"{PUBLIC_SPECS},{tmp}")
        specs = public_specs()
        for seed in GENERATED_SEEDS:
            specs[f"generated_{seed}"] = write_generated_spec(seed, pathlib.Path(tmp), GENERATED_OPERATIONS)
        specs = {name: path for name, path in specs.items() if not argv or any(a in name for a in argv)}
        for name, outcomes in census(specs, examples).items():
            accepted = sum(o.accepted for o in outcomes)
            print(f"{name}: {accepted} of {len(outcomes)} imported operations accepted ({examples} calls each)")
            for note in not_callable(specs[name]):
                print(f"  not callable by design: {note}")
            for outcome in outcomes:
                for problem in outcome.problems[:2]:
                    print(f"  {outcome.operation}: {problem[:600]}")


if __name__ == "__main__":
    main(sys.argv[1:])
