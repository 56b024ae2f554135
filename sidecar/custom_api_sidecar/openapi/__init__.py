"""Importing OpenAPI 3.0/3.1 and Swagger 2.0 specs as API config entries.

``import_spec`` reads a spec (file or http(s) URL, JSON or YAML, any number of
files joined by relative ``$ref``s) and returns the API entry in the config
file's own shape plus a report of what was imported, skipped and why. Every
problem with the spec names the document and JSON pointer. A problem inside one
operation skips that operation (``strict`` makes it an error); one with the whole
spec, or a spec none of whose operations could be imported, is a ``SpecError``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .._text import shown
from ._convert import Converter, EntryCheck, ImportReport
from ._errors import BrokenOperations, SpecError
from ._load import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS, FetchPolicy, display, to_uri
from ._refs import Resolver, child
from ._security import authentication_skeleton
from ._values import mapping

__all__ = ["BrokenOperations", "EntryCheck", "ImportReport", "ImportResult", "SpecError", "import_spec"]
# How many reasons the error for a spec with no importable operation quotes.
_REASONS_SHOWN = 3


@dataclass(frozen=True)
class ImportResult:
    api: dict[str, Any]  # name, description, connection (when a base URL is known), authentication, endpoints
    report: ImportReport
    base_url: str | None  # from the spec (servers / host+basePath) or the override


def import_spec(
    spec: str,
    *,
    name: str,
    base_dir: pathlib.Path | None = None,
    base_url: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    allow_private_network: bool = False,
    allow_http: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    local_file_check: Callable[[str], str | None] | None = None,
    check: EntryCheck | None = None,
    replaced: Collection[str] = (),
    strict: bool = False,
) -> ImportResult:
    """Import the operations of ``spec`` (a path, relative to ``base_dir``, or an http(s) URL).
    ``local_file_check`` says why a local file may not be read (None: it may).

    An operation that cannot be converted is left out and ``report.broken`` says why; so is one
    whose entry ``check`` (the loader's own checks) finds problems with. ``strict``: any such
    operation is an error instead (``BrokenOperations``, listing them all). ``replaced`` names
    operations the caller defines itself: they are not converted."""
    uri = to_uri(spec, base_dir)
    resolver = Resolver(FetchPolicy(allow_private_network, allow_http, timeout, max_bytes, local_file_check))
    document = resolver.document(uri)
    version = _version(document, display(uri))
    report = ImportReport(source=display(uri), version=version)
    converter = Converter(resolver, document, uri, version, report, check)

    operations = converter.operations()
    report.operations_in_spec = len(operations) + len(report.broken)  # so far: the unreadable path items
    if not operations:
        raise SpecError(_nothing_imported(report), display(uri))
    names = converter.names(operations)
    selected = _select(operations, names, include, exclude, report)
    endpoints = []
    for op, op_name in selected:
        if op_name in replaced:
            report.replaced.append(op_name)
            continue
        entry = converter.endpoint(op, op_name)
        if entry is not None:
            endpoints.append(entry)
            report.imported.append(op_name)
    if strict and report.broken:
        raise BrokenOperations(report.broken, display(uri))
    if not endpoints and report.not_imported:
        raise SpecError(_nothing_imported(report), display(uri))

    if converter.schemas.list_items:
        places = converter.schemas.list_items
        report.warnings.append(
            f"'items' is a list (OpenAPI allows one schema) at {len(places)} places, e.g. {places[0]}; read as anyOf"
        )
    info = mapping(document.get("info"))
    api: dict[str, Any] = {"name": name}
    description = info.get("description") or info.get("title")
    if isinstance(description, str) and description.strip():
        api["description"] = description.strip()
    spec_base_url = _spec_base_url(document, resolver.final_uri(uri), version, report)
    chosen_base_url = base_url.rstrip("/") if base_url else spec_base_url
    if chosen_base_url:
        api["connection"] = {"base_url": chosen_base_url}
    auth, notes = authentication_skeleton(
        _security_schemes(resolver, document, uri, version, report),
        document.get("security"),
        (op.spec.get("security") for op, _ in selected),
        name,
    )
    report.warnings.extend(notes)
    if auth is not None:
        api["authentication"] = auth
    api["endpoints"] = endpoints
    return ImportResult(api=api, report=report, base_url=chosen_base_url)


def _nothing_imported(report: ImportReport) -> str:
    reasons = report.not_imported
    quoted = "; ".join(f"{operation}: {why}" for operation, why in reasons[:_REASONS_SHOWN])
    more = f" (and {len(reasons) - _REASONS_SHOWN} more)" if len(reasons) > _REASONS_SHOWN else ""
    return f"no operation could be imported, {len(reasons)} skipped: {quoted}{more}"


def _version(document: Any, source: str) -> str:
    if not isinstance(document, dict):
        found = "an empty document" if document is None else f"a {type(document).__name__}"
        raise SpecError(f"not an OpenAPI or Swagger document: found {found}, expected a mapping", source)
    if "openapi" in document:
        version = str(document["openapi"])
        if version.startswith(("3.0.", "3.1.")) or version in ("3.0", "3.1"):
            return version
        raise SpecError(
            f"unsupported OpenAPI version {shown(version)}; supported: 3.0.x, 3.1.x and Swagger 2.0", source
        )
    if "swagger" in document:
        version = str(document["swagger"])
        if version == "2.0":
            return version
        raise SpecError(
            f"unsupported Swagger version {shown(version)}; supported: 2.0 and OpenAPI 3.0.x, 3.1.x", source
        )
    keys = ", ".join(repr(k) for k in list(document)[:8]) or "none"
    raise SpecError(
        f"not an OpenAPI or Swagger document: no 'openapi' or 'swagger' version field (top-level keys: {keys})",
        source,
    )


def _select(
    operations: list[Any], names: list[str], include: Sequence[str], exclude: Sequence[str], report: ImportReport
) -> list[tuple[Any, str]]:
    """Filter by tag, operation name or operationId; a selector that matches nothing is an error
    (a typo would otherwise silently import everything or nothing)."""

    def keys(op: Any, op_name: str) -> set[str]:
        tags = op.spec.get("tags") if isinstance(op.spec.get("tags"), list) else []
        return {op_name, str(op.spec.get("operationId", "")), *(str(t) for t in tags)}

    all_keys = [keys(op, op_name) for op, op_name in zip(operations, names, strict=True)]
    known = set().union(*all_keys)
    for flag, selectors in (("include", include), ("exclude", exclude)):
        unknown = [s for s in selectors if s not in known]
        if unknown:
            tags = sorted({t for op in operations for t in op.spec.get("tags") or () if isinstance(t, str)})
            raise SpecError(
                f"{flag} {', '.join(map(repr, unknown))} matches no tag, operation name or operationId"
                + (f" (tags: {', '.join(tags)})" if tags else "")
            )
    selected = []
    for op, op_name, op_keys in zip(operations, names, all_keys, strict=True):
        if (include and not op_keys & set(include)) or op_keys & set(exclude):
            report.excluded.append(op_name)
        else:
            selected.append((op, op_name))
    return selected


def _spec_base_url(document: dict[str, Any], uri: str, version: str, report: ImportReport) -> str | None:
    fetched = uri.startswith(("http://", "https://"))
    if version.startswith("2"):
        host = document.get("host")
        schemes = [s for s in document.get("schemes") or () if s in ("http", "https")]
        scheme = "https" if "https" in schemes else (schemes[0] if schemes else None)
        if not isinstance(host, str) or not host:
            if not fetched:
                report.warnings.append("the spec has no 'host'; give the base URL yourself")
                return None
            host = urlsplit(uri).netloc
        scheme = scheme or (urlsplit(uri).scheme if fetched else "https")
        base_path = document.get("basePath") if isinstance(document.get("basePath"), str) else ""
        return f"{scheme}://{host}{base_path}".rstrip("/")
    servers = document.get("servers")
    server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {"url": "/"}
    url = str(server.get("url", "/"))
    for var, spec in mapping(server.get("variables")).items():
        default = spec.get("default") if isinstance(spec, dict) else None
        if default is None:
            raise SpecError(f"server variable {shown(var)} has no default", display(uri), "#/servers/0")
        url = url.replace(f"{{{var}}}", str(default))
    if "{" in url:
        raise SpecError(f"server URL {shown(url)} uses an undeclared variable", display(uri), "#/servers/0")
    if not urlsplit(url).scheme:
        if not fetched:
            report.warnings.append(
                f"the server URL {shown(url)} is relative to where the spec is served; give the base URL yourself"
            )
            return None
        url = urljoin(uri, url)
    return url.rstrip("/")


def _security_schemes(
    resolver: Resolver, document: dict[str, Any], uri: str, version: str, report: ImportReport
) -> dict[str, Any]:
    """The spec's security schemes; one that cannot be read is left out with a warning (it can
    only cost the authentication skeleton a choice, never the operations)."""
    if version.startswith("2"):
        raw, pointer = document.get("securityDefinitions"), "/securityDefinitions"
    else:
        components = mapping(document.get("components"))
        raw, pointer = components.get("securitySchemes"), "/components/securitySchemes"
    if not isinstance(raw, dict):
        return {}
    schemes = {}
    for name, scheme in raw.items():
        try:
            schemes[name] = resolver.deref(scheme, (uri, child(pointer, name)))[0]
        except SpecError as exc:
            report.warnings.append(f"security scheme {shown(name)} left out: {exc}")
    return schemes
