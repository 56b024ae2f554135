"""OpenAPI 3.0/3.1 and Swagger 2.0 operations -> config endpoint entries.

The entries use exactly the keys of the config file (``sidecar/config``), so the
CLI can write them for a person to review and the loader can check them like
hand-written ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._text import clipped, shown
from ..config._model import METHODS, PARAMETER_TYPES, PATH_VARIABLE, arg_name
from ._errors import SpecError
from ._load import display
from ._names import argument_names, operation_name, snake_case, unique
from ._refs import Location, Resolver, child, fragment
from ._schemas import SchemaBundler
from ._values import mapping, text

_log = logging.getLogger(__name__)
MAX_REASON = 1000  # characters of why one operation was skipped: it is logged and reported
SPEC_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# OpenAPI: a header parameter with one of these names SHALL be ignored (HTTP sets them).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_DEFAULT_STYLE = {"query": "form", "path": "simple", "header": "simple"}
# Swagger 2 collectionFormat -> OpenAPI 3 (style, explode); csv is the Swagger default.
_COLLECTION_FORMATS = {
    "query": {"csv": ("form", False), "ssv": ("spaceDelimited", False), "pipes": ("pipeDelimited", False)},
    "path": {"csv": ("simple", False)},
    "header": {"csv": ("simple", False)},
}
_SWAGGER_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)


@dataclass
class ImportReport:
    source: str
    version: str = ""
    operations_in_spec: int = 0  # a path item that cannot be read counts as one
    imported: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # by include/exclude
    replaced: list[str] = field(default_factory=list)  # the caller defines these itself: not converted
    # (operation, why): not imported because the sidecar does not support it (a TRACE method, an
    # XML-only body); by design, so ``strict`` accepts them
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # (operation, why): not imported because the spec is wrong there (a broken $ref, a parameter in
    # no known location) or the entry it gave was refused (a schema the validator cannot compile);
    # ``strict`` refuses the spec for any of these
    broken: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def not_imported(self) -> list[tuple[str, str]]:
        """Every (operation, why) that was selected but not imported."""
        return [*self.broken, *self.skipped]

    def summary(self) -> str:
        replaced = f"{len(self.replaced)} replaced, " if self.replaced else ""
        lines = [
            f"{self.source}: {self.version_label()}, {self.operations_in_spec} operations in the spec: "
            f"{len(self.imported)} imported, {len(self.excluded)} excluded by include/exclude, "
            f"{replaced}{len(self.not_imported)} skipped"
        ]
        lines += [f"  skipped {op}: {why}" for op, why in self.not_imported]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)

    def version_label(self) -> str:
        return f"Swagger {self.version}" if self.version.startswith("2") else f"OpenAPI {self.version}"


@dataclass(frozen=True)
class _Operation:
    method: str
    path: str
    spec: dict[str, Any]
    at: Location
    path_parameters: list[Any]  # from the path item
    path_item_at: Location

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {clipped(self.path, 200)}"  # a path key is the spec's: any length


class _Skip(Exception):
    """This operation cannot be imported; the message says why (it goes in the report)."""


class _Refused(Exception):
    """The caller's check refused the entry this operation became; the message lists its problems."""


# The caller's own check of a converted entry: its problems, none when the entry is usable.
EntryCheck = Callable[[dict[str, Any]], list[str]]


class Converter:
    def __init__(
        self,
        resolver: Resolver,
        document: dict[str, Any],
        uri: str,
        version: str,
        report: ImportReport,
        check: EntryCheck | None = None,
    ):
        self.resolver = resolver
        self.doc = document
        self.uri = uri
        self.swagger = version.startswith("2")
        self.report = report
        self.check = check
        self.schemas = SchemaBundler(resolver, (uri, "/definitions" if self.swagger else "/components/schemas"))

    # --- the whole spec ------------------------------------------------------

    def operations(self) -> list[_Operation]:
        paths = self.doc.get("paths")
        if not isinstance(paths, dict):
            found = "no 'paths'" if paths is None else f"'paths' is a {type(paths).__name__}"
            raise SpecError(f"{found}: a spec needs a 'paths' mapping of operations to import", display(self.uri))
        out = []
        for path, raw_item in paths.items():
            item_at = (self.uri, child("/paths", path))
            try:
                item, item_at = self.resolver.deref(raw_item, item_at)
                if not isinstance(item, dict):
                    raise SpecError("a path item must be a mapping", display(item_at[0]), fragment(item_at[1]))
            except SpecError as exc:  # costs the operations of this path, not the spec
                self.report.broken.append((f"path {shown(str(path))}", bounded(str(exc))))
                continue
            shared = item.get("parameters") or []
            for method, spec in item.items():
                if method in SPEC_METHODS and isinstance(spec, dict):
                    at = (item_at[0], child(item_at[1], method))
                    out.append(_Operation(method, str(path), spec, at, shared, item_at))
        if not out and not self.report.broken:
            raise SpecError("'paths' has no operations to import", display(self.uri), "#/paths")
        return out

    def names(self, operations: list[_Operation]) -> list[str]:
        return unique([operation_name(op.spec.get("operationId"), op.method, op.path) for op in operations])

    def endpoint(self, op: _Operation, name: str) -> dict[str, Any] | None:
        """The config entry for one operation, or None when it cannot be imported, whatever the
        reason: the report says why, and what the attempt added (its warnings, half-bundled
        schemas) is gone, so one bad operation never costs the others."""
        label = f"{name} ({op.label})"
        warnings = len(self.report.warnings)
        try:
            entry = self._endpoint(op, name)
            problems = self.check(entry) if self.check is not None else []
            if problems:
                raise _Refused("; ".join(problems))
            return entry
        except _Skip as why:
            self.report.skipped.append((label, bounded(str(why))))
        except (SpecError, _Refused) as exc:
            self.report.broken.append((label, bounded(str(exc))))
        except RecursionError:
            self.report.broken.append((label, "its schemas are nested too deeply to convert"))
        except Exception as exc:  # a converter bug must cost this operation only, and say so
            _log.warning("converting %s failed", label, exc_info=True)
            self.report.broken.append((label, f"could not be converted: {type(exc).__name__} {shown(str(exc))}"))
        del self.report.warnings[warnings:]
        return None

    # --- one operation -------------------------------------------------------

    def _endpoint(self, op: _Operation, name: str) -> dict[str, Any]:
        if op.method.upper() not in METHODS:
            raise _Skip(f"method {op.method.upper()} is not supported ({', '.join(METHODS)})")
        entry: dict[str, Any] = {"name": name}
        description = _description(op.spec)
        if description:
            entry["description"] = description
        entry["method"] = op.method.upper()
        tags = [str(tag)[:100] for tag in op.spec.get("tags") or () if isinstance(tag, str) and tag.strip()][:32]
        if tags:  # what operation search finds it by, too
            entry["tags"] = tags
        body: dict[str, Any] = {}
        raw_params = self._merged_parameters(op)
        wire_params = []
        for param, at in raw_params:
            location = param.get("in")
            if location == "body":
                body = self._swagger_body(op, param, at)
            elif location != "formData":
                converted = self._parameter(op, name, param, at)
                if converted is not None:
                    wire_params.append(converted)
        form_fields = [(p, at) for p, at in raw_params if p.get("in") == "formData"]
        if form_fields:
            body = self._swagger_form(op, form_fields)
        if not self.swagger and "requestBody" in op.spec:
            body = self._request_body(op)
        path, wire_params = self._path_template(op, name, wire_params)
        entry["path"] = path
        properties = (body.get("request_body") or {}).get("properties") or {}
        args = argument_names([(p["name"], p["in"]) for p in wire_params], properties)
        wire_params = [
            param if arg == arg_name(param["name"]) else {"name": param["name"], "arg": arg, **param}
            for param, arg in zip(wire_params, args, strict=True)
        ]
        for prop in properties:
            if not prop.isidentifier() or prop in ("params", "json", "data", "headers", "timeout"):
                self.report.warnings.append(
                    f"{name}: request-body property {shown(prop)} cannot be a keyword argument; pass it in json=/data="
                )
        if wire_params:
            entry["parameters"] = wire_params
        entry.update(body)
        response = self._response_schema(op)
        if response is not None:
            entry["response_schema"] = response
        return entry

    def _merged_parameters(self, op: _Operation) -> list[tuple[dict[str, Any], Location]]:
        """Path-item parameters then operation parameters; the operation's win by (name, in)."""
        merged: dict[tuple[Any, Any], tuple[dict[str, Any], Location]] = {}
        for source, base in ((op.path_parameters, op.path_item_at), (op.spec.get("parameters") or [], op.at)):
            if not isinstance(source, list):
                raise SpecError("'parameters' must be a list", display(base[0]), fragment(child(base[1], "parameters")))
            for index, raw in enumerate(source):
                at = (base[0], child(child(base[1], "parameters"), index))
                param, at = self.resolver.deref(raw, at)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str) or "in" not in param:
                    raise SpecError("a parameter needs 'name' and 'in'", display(at[0]), fragment(at[1]))
                merged[(param["name"], param["in"])] = (param, at)
        return list(merged.values())

    def _parameter(self, op: _Operation, name: str, param: dict[str, Any], at: Location) -> dict[str, Any] | None:
        location, wire = param["in"], param["name"]
        if location == "cookie":
            self.report.warnings.append(f"{name}: cookie parameter {shown(wire)} skipped (cookies are not supported)")
            return None
        if location not in ("path", "query", "header"):
            raise SpecError(
                f"parameter {shown(wire)} has unknown location {shown(location)}", display(at[0]), fragment(at[1])
            )
        if location == "header" and wire.lower() in _IGNORED_HEADERS:
            self.report.warnings.append(f"{name}: header parameter {shown(wire)} ignored (set by HTTP/authentication)")
            return None
        schema = self._parameter_schema(param, at)
        required = location == "path" or param.get("required") is True
        if location == "query" and required and param.get("allowEmptyValue") is not True:
            schema = _non_empty(schema)
        out: dict[str, Any] = {"name": wire, "in": location, "type": _top_type(schema)}
        if required:
            out["required"] = True
        description = param.get("description")
        if isinstance(description, str) and description.strip():
            out["description"] = description.strip()
        style, explode = self._style(param, location, name)
        if style is not None:
            out["style"] = style
        if explode is not None:
            out["explode"] = explode
        out["schema"] = schema
        return out

    def _parameter_schema(self, param: dict[str, Any], at: Location) -> dict[str, Any]:
        if self.swagger:
            raw = {k: param[k] for k in _SWAGGER_SCHEMA_KEYS if k in param}
            return self.schemas.bundle(raw, at)
        if "schema" in param:
            return self.schemas.bundle(param["schema"], (at[0], child(at[1], "schema")))
        content = param.get("content")
        if isinstance(content, dict) and content:
            # The value travels as a serialized document (e.g. JSON text): the caller passes that string.
            media, value = next(iter(content.items()))
            schema: dict[str, Any] = {"type": "string", "contentMediaType": media}
            if isinstance(value, dict) and "schema" in value:
                where = child(child(child(at[1], "content"), media), "schema")
                schema["contentSchema"] = self.schemas.bundle(value["schema"], (at[0], where))
            return schema
        return {"type": "string"}

    def _style(self, param: dict[str, Any], location: str, name: str) -> tuple[str | None, bool | None]:
        """(style, explode), each None when it is the OpenAPI default for the location."""
        default_style = _DEFAULT_STYLE[location]
        if self.swagger:
            if param.get("type") != "array":
                return None, None
            fmt = param.get("collectionFormat", "csv")
            if fmt == "multi" and location == "query":
                return None, None  # form + explode: the OpenAPI 3 default
            mapped = _COLLECTION_FORMATS[location].get(fmt)
            if mapped is None:
                self.report.warnings.append(
                    f"{name}: collectionFormat {shown(fmt)} of {shown(param['name'])} is not supported; using csv"
                )
                mapped = _COLLECTION_FORMATS[location]["csv"]
            style, explode = mapped
        else:
            style = param.get("style", default_style)
            explode = param.get("explode", style == "form")
        return (None if style == default_style else style), (None if explode == (style == "form") else explode)

    def _path_template(
        self, op: _Operation, name: str, params: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]]]:
        """The path with every variable an identifier and declared, and no stray path parameters.
        Renaming a variable changes nothing on the wire: only the template refers to it."""
        path = op.path if op.path.startswith("/") else f"/{op.path}"
        variables = PATH_VARIABLE.findall(path)
        declared = {p["name"]: p for p in params if p["in"] == "path"}
        renamed: dict[str, str] = {}
        for var in variables:
            if var not in declared:
                self.report.warnings.append(f"{name}: path variable {{{var}}} was not declared; added as a string")
                declared[var] = {"name": var, "in": "path", "type": "string", "required": True}
                params.append(declared[var])
            if not var.isidentifier():
                new = snake_case(var) or "var"
                new = f"p_{new}" if new[0].isdigit() else new
                while new in renamed.values() or (new in declared and new != var):
                    new += "_"
                renamed[var] = new
        kept = []
        for param in params:
            if param["in"] == "path" and param["name"] not in variables:
                self.report.warnings.append(
                    f"{name}: path parameter {shown(param['name'])} is not in the path; dropped"
                )
                continue
            if param["in"] == "path" and param["name"] in renamed:
                param["name"] = renamed[param["name"]]
            kept.append(param)
        for old, new in renamed.items():
            path = path.replace(f"{{{old}}}", f"{{{new}}}")
        return path, kept

    # --- bodies --------------------------------------------------------------

    def _request_body(self, op: _Operation) -> dict[str, Any]:
        body, at = self.resolver.deref(op.spec["requestBody"], (op.at[0], child(op.at[1], "requestBody")))
        if not isinstance(body, dict):
            raise SpecError("requestBody must be a mapping", display(at[0]), fragment(at[1]))
        content = mapping(body.get("content"))
        required = body.get("required") is True
        chosen = _pick_media_type(content)
        if chosen is None:
            if not content:
                return {}
            kinds = ", ".join(content)
            if required:
                raise _Skip(f"its required request body is only {kinds} (JSON, form and multipart are supported)")
            self.report.warnings.append(f"{op.label}: optional request body in {kinds} not imported")
            return {}
        media, kind = chosen
        media_object = content[media] if isinstance(content[media], dict) else {}
        where = (at[0], child(child(child(at[1], "content"), media), "schema"))
        schema = self.schemas.bundle(media_object["schema"], where) if "schema" in media_object else {}
        return _body_entry(schema, kind, required)

    def _swagger_body(self, op: _Operation, param: dict[str, Any], at: Location) -> dict[str, Any]:
        consumes = self._media_list(op, "consumes")
        kind = JSON if not consumes or any(_is_json(m) for m in consumes) else None
        if kind is None:
            if param.get("required") is True:
                raise _Skip(f"its required body is only {', '.join(consumes)} (JSON is supported)")
            self.report.warnings.append(f"{op.label}: optional body in {', '.join(consumes)} not imported")
            return {}
        schema = self.schemas.bundle(param.get("schema", {}), (at[0], child(at[1], "schema")))
        return _body_entry(schema, JSON, param.get("required") is True)

    def _swagger_form(self, op: _Operation, fields: list[tuple[dict[str, Any], Location]]) -> dict[str, Any]:
        consumes = self._media_list(op, "consumes")
        has_file = any(p.get("type") == "file" for p, _ in fields)
        multipart = has_file or (MULTIPART in consumes and FORM not in consumes)
        properties: dict[str, Any] = {}
        required = []
        for param, at in fields:
            schema = self._parameter_schema(param, at)
            if isinstance(param.get("description"), str) and param["description"].strip():
                schema = {**schema, "description": param["description"].strip()}
            properties[param["name"]] = schema
            if param.get("required") is True:
                required.append(param["name"])
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return _body_entry(schema, MULTIPART if multipart else FORM, bool(required))

    def _media_list(self, op: _Operation, key: str) -> list[str]:
        value = op.spec.get(key, self.doc.get(key))
        return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []

    def _response_schema(self, op: _Operation) -> dict[str, Any] | None:
        responses = op.spec.get("responses")
        if not isinstance(responses, dict):
            return None
        codes = sorted((str(c) for c in responses if str(c).startswith("2")), key=lambda c: (not c.isdigit(), c))
        for code in codes:
            raw = responses[code] if code in responses else responses[int(code)]
            base = (op.at[0], child(child(op.at[1], "responses"), code))
            response, at = self.resolver.deref(raw, base)
            if not isinstance(response, dict):
                continue
            if self.swagger:
                produces = self._media_list(op, "produces")
                if "schema" in response and (not produces or any(_is_json(m) for m in produces)):
                    return self.schemas.bundle(response["schema"], (at[0], child(at[1], "schema")))
                continue
            content = mapping(response.get("content"))
            for media, media_object in content.items():
                if _is_json(media) and isinstance(media_object, dict) and "schema" in media_object:
                    where = child(child(child(at[1], "content"), media), "schema")
                    return self.schemas.bundle(media_object["schema"], (at[0], where))
        return None


def bounded(reason: str, limit: int = MAX_REASON) -> str:
    """A reason as it is up to ``limit`` characters, else its start and its end (where it says
    what is wrong) around the length: it quotes JSON pointers, and a spec's keys have any length."""
    if len(reason) <= limit:
        return reason
    tail = limit // 4
    return f"{reason[: limit - tail]} ... ({len(reason)} characters) ... {reason[-tail:]}"


def _body_entry(schema: dict[str, Any], content_type: str, required: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if content_type != JSON:
        entry["request_content_type"] = content_type
    if required:
        entry["request_body_required"] = True
    entry["request_body"] = schema
    return entry


def _pick_media_type(content: dict[str, Any]) -> tuple[str, str] | None:
    """JSON (incl. +json) first, then form, then multipart; */* is taken as JSON last."""
    by_kind: dict[str, str] = {}
    for media in content:
        base = str(media).split(";", 1)[0].strip().lower()
        if _is_json(base):
            by_kind.setdefault(JSON, media)
        elif base == FORM:
            by_kind.setdefault(FORM, media)
        elif base == MULTIPART:
            by_kind.setdefault(MULTIPART, media)
        elif base == "*/*":
            by_kind.setdefault("*/*", media)
    for kind in (JSON, FORM, MULTIPART, "*/*"):
        if kind in by_kind:
            return by_kind[kind], JSON if kind == "*/*" else kind
    return None


def _is_json(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == JSON or (base.startswith("application/") and base.endswith("+json"))


def _description(spec: dict[str, Any]) -> str:
    summary, description = text(spec.get("summary")), text(spec.get("description"))
    if summary and description and not description.startswith(summary):
        out = f"{summary}\n\n{description}"
    else:
        out = description or summary
    if spec.get("deprecated") is True:
        out = f"Deprecated. {out}".strip()
    return out


def _non_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """A required query parameter's schema, without the values that go on the wire as nothing.

    Without ``allowEmptyValue`` a query parameter may not be sent empty (OpenAPI 3 and Swagger 2),
    and servers read ``?token=`` as no token at all (Prism does): an empty string, an empty array
    or object (no pair at all, or ``name=``), or an array of one empty string would send a
    required parameter that is not there. (So array items are non-empty strings too.)"""
    kind = _top_type(schema)
    if kind == "string":
        return _at_least(schema, "minLength")
    if kind == "object":
        return _at_least(schema, "minProperties")
    if kind == "array":
        out = _at_least(schema, "minItems")
        items = out.get("items")
        if isinstance(items, dict) and _top_type(items) == "string":
            out["items"] = {"allOf": [items, {"minLength": 1}]} if "$ref" in items else _at_least(items, "minLength")
        return out
    return schema


def _at_least(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """``schema`` with ``key`` (minLength, minItems, minProperties) at least 1."""
    if isinstance(schema.get(key), int) and schema[key] >= 1:
        return schema
    return {**schema, key: 1}


def _top_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k in PARAMETER_TYPES), None)
    if kind in PARAMETER_TYPES:
        return str(kind)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"
