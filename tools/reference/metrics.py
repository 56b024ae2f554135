"""metrics.md: every instrument the sidecar creates, with its OpenTelemetry name, kind, unit and
attributes, and the Prometheus name and labels ``/metrics`` shows for it.

Instruments and attribute keys are read from the source (every ``meter.create_*`` call, and the
attribute mappings of the ``add``/``record`` calls and ``Observation``\\ s that feed it); the
Prometheus side comes from running the sidecar's own renderer (``render_prometheus``) over each
instrument with those attributes, so the names are what a scrape returns.
"""

from __future__ import annotations

import ast
import pathlib
import re
from dataclasses import dataclass, field

from opentelemetry import metrics as otel
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from custom_api_sidecar.metrics import render_prometheus

from ._markdown import MissingDescription, code, page, prose, table

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sidecar" / "custom_api_sidecar"
KINDS = {
    "create_counter": "Counter",
    "create_up_down_counter": "UpDownCounter",
    "create_histogram": "Histogram",
    "create_gauge": "Gauge",
    "create_observable_counter": "ObservableCounter",
    "create_observable_gauge": "ObservableGauge",
    "create_observable_up_down_counter": "ObservableUpDownCounter",
}


@dataclass
class Instrument:
    name: str
    kind: str
    unit: str
    description: str
    module: str
    attributes: set[str] = field(default_factory=set)
    prometheus: str = ""
    prometheus_type: str = ""
    labels: tuple[str, ...] = ()


def _string(node: ast.AST | None) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _target(node: ast.AST) -> str:
    """``self._x`` -> ``_x``, ``x`` -> ``x``, anything else -> ''."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


class _Module:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.name = path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.parents: dict[int, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        self.functions = {
            node.name: node for node in ast.walk(self.tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }

    def scope(self, node: ast.AST) -> ast.AST:
        while id(node) in self.parents:
            node = self.parents[id(node)]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                return node
        return self.tree

    def keys(self, node: ast.AST, scope: ast.AST, depth: int = 0) -> set[str]:
        """The attribute keys a mapping expression holds (dict literals, locals, ``**`` and ``x[k] =``)."""
        if depth > 5:
            return set()
        if isinstance(node, ast.Dict):
            out = set()
            for key, value in zip(node.keys, node.values, strict=True):
                out |= {key.value} if isinstance(key, ast.Constant) else set()
                if key is None:
                    out |= self.keys(value, scope, depth + 1)
            return out
        if isinstance(node, ast.Name):
            out = set()
            for item in ast.walk(scope):
                if isinstance(item, ast.Assign | ast.AnnAssign) and item.value is not None:
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id == node.id:
                            out |= self.keys(item.value, scope, depth + 1)
                        if (
                            isinstance(target, ast.Subscript)
                            and isinstance(target.value, ast.Name)
                            and target.value.id == node.id
                        ):
                            out.add(_string(target.slice))
            return out - {""}
        return set()


def _creations(module: _Module) -> list[tuple[Instrument, ast.Call]]:
    out = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in KINDS:
            keywords = {k.arg: k.value for k in node.keywords}
            name = _string(node.args[0]) if node.args else ""
            if not name:
                raise MissingDescription(f"{module.name}: an instrument whose name is not a string literal")
            instrument = Instrument(
                name=name,
                kind=KINDS[node.func.attr],
                unit=_string(keywords.get("unit")),
                description=_string(keywords.get("description")),
                module=module.name,
            )
            out.append((instrument, node))
    return out


def instruments() -> list[Instrument]:
    modules = [_Module(path) for path in sorted(PACKAGE.rglob("*.py"))]
    found: list[Instrument] = []
    bindings: dict[tuple[str, str], Instrument] = {}  # (module, target) -> instrument
    factories: dict[str, Instrument] = {}  # a function returning a new instrument
    for module in modules:
        for instrument, call in _creations(module):
            found.append(instrument)
            parent = module.parents.get(id(call))
            if isinstance(parent, ast.Assign):
                for target in parent.targets:
                    bindings[(module.name, _target(target))] = instrument
            elif isinstance(parent, ast.Return):
                scope = module.scope(call)
                if isinstance(scope, ast.FunctionDef):
                    factories[scope.name] = instrument
            callbacks = {k.arg: k.value for k in call.keywords}.get("callbacks")
            for callback in callbacks.elts if isinstance(callbacks, ast.List) else ():
                function: ast.AST | None = callback if isinstance(callback, ast.Lambda) else None
                if function is None:
                    function = module.functions.get(_target(callback))
                for item in ast.walk(function) if function is not None else ():
                    if isinstance(item, ast.Call) and _target(item.func) == "Observation" and len(item.args) > 1:
                        instrument.attributes |= module.keys(item.args[1], function)
    for module in modules:  # instruments made by a factory elsewhere: `self._x = factory(...)`
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                made = factories.get(_target(node.value.func))
                if made is not None:
                    for target in node.targets:
                        bindings[(module.name, _target(target))] = made
    for module in modules:  # what each recording passes as attributes
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("add", "record", "set")
                and len(node.args) > 1
            ):
                instrument = bindings.get((module.name, _target(node.func.value)))
                if instrument is not None:
                    instrument.attributes |= module.keys(node.args[1], module.scope(node))
    for instrument in found:
        if not instrument.description:
            raise MissingDescription(f"metric {instrument.name} ({instrument.module}) has no description")
        _prometheus(instrument)
    return sorted(found, key=lambda i: i.name)


def _prometheus(instrument: Instrument) -> None:
    """Name and labels as the sidecar's /metrics renders them, by rendering one data point."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("custom_api_sidecar")
    attributes = dict.fromkeys(sorted(instrument.attributes), "x")
    kwargs = {"unit": instrument.unit, "description": instrument.description}
    if instrument.kind.startswith("Observable"):
        create = getattr(meter, "create_" + re.sub(r"(?<!^)([A-Z])", r"_\1", instrument.kind).lower())
        create(instrument.name, callbacks=[lambda _options: [otel.Observation(1, attributes)]], **kwargs)
    else:
        create = getattr(meter, "create_" + re.sub(r"(?<!^)([A-Z])", r"_\1", instrument.kind).lower())
        made = create(instrument.name, **kwargs)
        (made.record if instrument.kind in ("Histogram", "Gauge") else made.add)(1, attributes)
    text = render_prometheus(reader)
    provider.shutdown()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, instrument.prometheus, instrument.prometheus_type = line.split(" ", 3)
        elif line and not line.startswith("#"):
            labels = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', line.split("{", 1)[1]) if "{" in line else []
            instrument.labels = tuple(label for label in labels if label != "le")
            break


def _series(instrument: Instrument) -> str:
    if instrument.prometheus_type == "histogram":
        base = instrument.prometheus
        return f"`{base}_bucket`, `{base}_sum`, `{base}_count`"
    return code(instrument.prometheus)


def render() -> str:
    found = instruments()
    otel_rows = [
        (
            code(i.name),
            i.kind,
            code(i.unit) if i.unit else "",
            ", ".join(code(a) for a in sorted(i.attributes)),
            prose(i.description),
        )
        for i in found
    ]
    prom_rows = [
        (_series(i), i.prometheus_type, ", ".join(code(label) for label in i.labels), code(i.name)) for i in found
    ]
    example = next((i for i in found if i.name == "custom_api_sidecar.calls"), None)
    promql = ""
    if example is not None and example.labels:
        api_label = next((label for label in example.labels if label.endswith("api")), example.labels[0])
        promql = (
            "For example, calls per second by API:\n\n```promql\n"
            f"sum by ({api_label}) (rate({example.prometheus}[5m]))\n```"
        )
    return page(
        "Metrics",
        "The sidecar records metrics with the OpenTelemetry SDK. They are pushed over OTLP/gRPC when "
        "`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_METRICS_EXPORTER=otlp`) is set, and served in the Prometheus "
        "text format at `/metrics` on the admin listener (`serve --admin-listen`). Attribute values are "
        "bounded: API and operation names (an unknown one is `(unknown)`), methods, status codes, error "
        "codes, outcomes; never a URL, an argument value or a secret. Some attributes are present only when "
        "they apply (`http.response.status_code` when there was a response, `error.type` on failures).",
        "## OpenTelemetry instruments\n\n"
        + table(("name", "instrument", "unit", "attributes", "description"), otel_rows),
        "## Prometheus names and labels\n\nOn `/metrics`, dots and other characters become `_` in names "
        "and labels (`custom_api.api` is the label `custom_api_api`), a unit of seconds or bytes is appended "
        "to the name, and counters end in `_total`.\n\n"
        + table(("series", "type", "labels", "OpenTelemetry name"), prom_rows)
        + ("\n\n" + promql if promql else ""),
    )
