"""environment.md: every environment variable the sidecar and the client read.

Two sources, both from the code: the variables argparse's help names (each beside its flag),
and every other variable name the packages' source spells. The second has its lines here;
the page fails to generate when the source reads a variable this table does not describe, or
describes one the source no longer reads, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import pathlib
import re

from custom_api_sidecar.policy import _model as policy_model

from . import cli
from ._markdown import MissingDescription, code, page, prose, table

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "sidecar" / "custom_api_sidecar", ROOT / "client" / "custom_api_client")
NAME = re.compile(
    r"^(CUSTOM_API_SIDECAR|VAULT_[A-Z0-9_]*[A-Z0-9]|OTEL_[A-Z0-9_]*[A-Z0-9]|HTTPS?_PROXY|NO_PROXY)$|"
    r"^CUSTOM_API_SIDECAR_[A-Z0-9_]*[A-Z0-9]$"
)

# Variables read outside argparse: where, and what they do. (OTEL_* are OpenTelemetry's own
# variables; the SDK and its OTLP exporter honour the rest of them too.)
OTHER = {
    "CUSTOM_API_SIDECAR": (
        "client",
        "The sidecar's gRPC target when `connect()` is given none "
        "(`unix:///path` or `host:port`; default `unix:///tmp/custom-api-sidecar.sock`).",
    ),
    "CUSTOM_API_SIDECAR_HTTP_TRANSPORT": (
        "sidecar",
        "The HTTP transport under httpx: `aiohttp` (default, measured faster) or `httpcore` (httpx's own).",
    ),
    "HTTPS_PROXY": (
        "sidecar",
        "Forward proxy for https upstreams (also lower case); an API may always name it in `connection.proxy`.",
    ),
    "HTTP_PROXY": ("sidecar", "Forward proxy for plain-http upstreams (also lower case)."),
    "NO_PROXY": ("sidecar", "Hosts reached directly despite the proxy variables (also lower case)."),
    "VAULT_TOKEN": ("sidecar", "A Vault token for token auth (the only way to give a literal token)."),
    "OTEL_SDK_DISABLED": ("sidecar", "`true`: no traces and no metrics exported (the admin `/metrics` is empty)."),
    "OTEL_SERVICE_NAME": ("sidecar", "The service name on spans and metrics (default `custom-api-sidecar`)."),
    "OTEL_TRACES_EXPORTER": (
        "sidecar",
        "`otlp`, `console` or `none`; default `otlp` when an OTLP endpoint is set, else none.",
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "sidecar",
        "OTLP/gRPC collector for traces and metrics (e.g. Jaeger on `http://jaeger:4317`); setting it turns export on.",
    ),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("sidecar", "OTLP/gRPC endpoint for traces only."),
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ("sidecar", "OTLP/gRPC endpoint for metrics only."),
    "OTEL_METRICS_EXPORTER": (
        "sidecar",
        "`otlp` pushes metrics (every `OTEL_METRIC_EXPORT_INTERVAL` ms, default "
        "60000); `none` turns the push off even with an endpoint set.",
    ),
    "OTEL_METRICS_EXEMPLAR_FILTER": (
        "sidecar",
        "Set it to record exemplars (off by default: nothing reads them, and they cost every measurement).",
    ),
    "OTEL_BSP_SCHEDULE_DELAY": ("sidecar", "Span batch delay in ms (default here 500, not the SDK's 5000)."),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("sidecar", "Spans per export batch (default here 128, not the SDK's 512)."),
}


def names_in_source() -> set[str]:
    """Variable names spelled as whole string constants in the packages (generated code aside),
    plus the policy's, which its module builds from one prefix."""
    found = set()
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            if "proto" in path.relative_to(package).parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # a constant inside an f-string is a piece of a name (the policy's), not a name
            pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
            for node in ast.walk(tree):
                is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
                if is_text and id(node) not in pieces and NAME.match(node.value):
                    found.add(node.value)
    found |= {value for key, value in vars(policy_model).items() if key.startswith("ENV_") and key != "ENV_PREFIX"}
    return found


def cli_variables() -> dict[str, list[tuple[str, str, str]]]:
    """variable -> [(command, flag, help)] for every variable a flag's help names."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for name, (_, sub) in cli.subcommands(cli.parser()).items():
        for _, action in cli.documented_actions(sub):
            text = cli.help_text(sub, action)
            flag = action.option_strings[-1] if action.option_strings else action.dest
            for variable in cli.env_variables(text):
                out.setdefault(variable, []).append((name, flag, text))
    return out


def render() -> str:
    from_cli = cli_variables()
    in_source = names_in_source()
    undocumented = sorted(in_source - set(from_cli) - set(OTHER))
    if undocumented:
        raise MissingDescription(f"environment variables read but not described: {', '.join(undocumented)}")
    stale = sorted(set(OTHER) - in_source)
    if stale:
        raise MissingDescription(f"described environment variables the code no longer reads: {', '.join(stale)}")
    flag_rows = []
    for variable in sorted(set(from_cli) - set(OTHER)):  # OTHER's line wins for a variable a help only mentions
        uses = from_cli[variable]
        commands: dict[str, set[str]] = {}
        for command, flag, _ in uses:
            commands.setdefault(flag, set()).add(command)
        flags = "; ".join(f"`{flag}` ({', '.join(sorted(names))})" for flag, names in sorted(commands.items()))
        help_line = cli.ENV_VARIABLE.sub(lambda m: code("$" + m.group(1)), uses[0][2])
        flag_rows.append((code(variable), flags, prose(help_line)))
    other_rows = [(code(v), where, prose(text)) for v, (where, text) in sorted(OTHER.items())]
    return page(
        "Environment variables",
        "Every setting of the sidecar is a flag that falls back to an environment variable; a flag on the "
        "command line wins over its variable. The chart sets these variables from its values. Lists are "
        "comma-separated. The sidecar's own variables (and `VAULT_*`, `OTEL_*`, the proxy variables and the "
        "pod's identity) can never be read by an API definition as a credential (`env://`).",
        "## Settings with a flag\n\nSee [Command line](cli.md) for each flag.\n\n"
        + table(("variable", "flag (commands)", "meaning"), flag_rows),
        "## Other variables\n\n" + table(("variable", "read by", "meaning"), other_rows),
    )
