"""python-client.md: the client's API from its docstrings, rendered by mkdocstrings at site build.

The page is a list of ``:::`` directives; which modules it lists comes from the package itself
(``__all__`` and its public submodules), so a new public module appears without an edit here.
"""

from __future__ import annotations

import pkgutil

import custom_api_client

from ._markdown import MissingDescription, page

OPTIONS = """    options:
      show_root_heading: true
      show_source: false
      members_order: source
      filters: ["!^_"]"""


def public_modules() -> list[str]:
    """Public submodules, but not the generated protobuf code (see the gRPC page for it)."""
    names = [
        info.name
        for info in pkgutil.iter_modules(custom_api_client.__path__)
        if not info.name.startswith("_") and info.name != "proto"
    ]
    for name in names:
        module = __import__(f"custom_api_client.{name}", fromlist=["_"])
        if not (module.__doc__ or "").strip():
            raise MissingDescription(f"custom_api_client.{name} has no module docstring")
    return sorted(names)


def render() -> str:
    top = [name for name in custom_api_client.__all__ if name not in public_modules()]
    members = "\n".join(f"        - {name}" for name in top)
    sections = [
        "## custom_api_client\n\n::: custom_api_client\n" + OPTIONS + "\n      show_submodules: false\n"
        "      members:\n" + members
    ]
    sections += [f"## custom_api_client.{name}\n\n::: custom_api_client.{name}\n{OPTIONS}" for name in public_modules()]
    return page(
        "Python client",
        "`custom_api_client` is the agent-side package: it needs only `grpcio` and `protobuf`, and imports "
        "nothing from the sidecar. `connect()` gives a synchronous `conv`, `connect_async()` an asyncio one; "
        "`conv.api.<api>.<operation>(...)` returns a `Response` shaped like `requests.Response`. A failure "
        "with no upstream response raises one of the [errors](errors.md). This page is generated from the "
        "package's docstrings.",
        *sections,
    )
