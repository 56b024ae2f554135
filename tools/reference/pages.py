"""The page list: file name -> the module that renders it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from . import cli, config_keys, environment, errors, grpc_api, helm_values, index, metrics, python_client

PAGES = {
    "index.md": index,
    "config.md": config_keys,
    "cli.md": cli,
    "environment.md": environment,
    "errors.md": errors,
    "metrics.md": metrics,
    "grpc.md": grpc_api,
    "python-client.md": python_client,
    "helm-values.md": helm_values,
}
# Variables that would leak this machine's settings into defaults the pages show (argparse
# reads them when the parser is built): cleared while rendering, so every machine writes the same pages.
_AMBIENT_PREFIXES = ("CUSTOM_API_SIDECAR", "VAULT_", "OTEL_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


@contextlib.contextmanager
def _clean_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.upper().startswith(_AMBIENT_PREFIXES)}
    columns = os.environ.get("COLUMNS")
    for key in saved:
        del os.environ[key]
    os.environ["COLUMNS"] = "100"  # argparse wraps usage lines to the terminal's width
    try:
        yield
    finally:
        os.environ.update(saved)
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def render_all() -> dict[str, str]:
    with _clean_environment():
        return {name: module.render() for name, module in PAGES.items()}
