"""index.md: what each reference page is, where it comes from, and how to regenerate them."""

from __future__ import annotations

from ._markdown import page, table

# (file, title, what it documents, its source in the code)
PAGES = (
    (
        "config.md",
        "Config file",
        "every key of the config file, with defaults",
        "the loader's key tables and the settings dataclasses",
    ),
    ("cli.md", "Command line", "every command and flag of `custom-api-sidecar`", "the argparse parser the CLI builds"),
    (
        "environment.md",
        "Environment variables",
        "every variable the sidecar and the client read",
        "argparse help and the variable names in the source",
    ),
    (
        "errors.md",
        "Error codes",
        "the error codes, their gRPC status and the client's exceptions",
        "the proto's `ErrorCode` enum, the sidecar's status table, `custom_api_client.errors`",
    ),
    (
        "metrics.md",
        "Metrics",
        "OpenTelemetry instruments and their Prometheus names and labels",
        "the instruments in the source, rendered by the sidecar's `/metrics` renderer",
    ),
    ("grpc.md", "gRPC API", "services, RPCs, messages and enums", "`protos/` (protoc's descriptor and comments)"),
    ("python-client.md", "Python client", "the `custom_api_client` package", "its docstrings (mkdocstrings)"),
    ("helm-values.md", "Helm chart values", "every value of the chart", "the chart's `values.yaml` and its comments"),
)


def render() -> str:
    rows = [(f"[{title}]({name})", what, source) for name, title, what, source in PAGES]
    return page(
        "Reference",
        "These pages are generated from the code, so they say what the code does. A test fails when one "
        "is out of date, and the generator fails when something it documents (a config key, a flag, a "
        "metric, a chart value) has no description in the code.",
        table(("page", "documents", "generated from"), rows),
        "## Regenerating\n\nAfter changing what a page documents, regenerate the pages and commit them:\n\n"
        "```\npython tools/docs_reference.py          # write docs/reference/\n"
        "python tools/docs_reference.py --check  # exit 1 (with a diff) when a page is out of date\n```",
    )
