"""The spellings a config file may use, turned into the one canonical ``{apis: [...]}`` shape.

A file holds one or more YAML documents (``---`` between them; a ``.json`` file holds one).
Each document is one of:

- ``{apis: [...], tools: [...], vault: ..., secrets: ...}``: the canonical form (any of its keys);
- ``{custom_api: {...}}``: seed 004's "Complete Custom API Configuration", one API;
- ``[{custom_api: {...}}, ...]``: a list of those.

A ``custom_api`` entry is an ``apis`` entry spelled the seed's way (``slug`` is the code name,
``name`` the display name), so the loader checks both alike. A seed-003 ``tools`` entry (an
"HTTP API request" tool: one request URL, headers, body fields) becomes an API with one
operation of the same name. Translation only reshapes data; every check stays in the loader.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._text import shown
from ..config._model import REQUEST_CONTENT_TYPES
from ..config._problems import Problems
from ..secrets import is_reference
from ._read import MAX_DEPTH, MAX_VALUES

# The key under which a translated seed-003 tool carries what the translation noticed: an object,
# not a string, so no file can spell it.
TOOL_NOTES: Any = object()
# Key -> the line the config reference shows for it (tools/docs_reference.py fails on a key without one).
TOP_LEVEL_KEYS = {
    "apis": "A list of API definitions (the canonical form).",
    "tools": "A list of HTTP API request tools, each an API with one operation named like the tool.",
    "custom_api": "One API in the single-API document form (`slug` is the code name, `name` the display name).",
    "vault": "How the sidecar reaches and logs in to Vault (flags and `VAULT_*` variables override it). Read at "
    "start: a reload does not change it.",
    "secrets": "How often secrets are re-read, and how long a value outlives a failing source. Read at start: a "
    "reload does not change it.",
    "redis": "Fleet mode: rate limits, OAuth2 tokens, background jobs and cached answers shared through Redis. "
    "Read at start: a reload does not change it.",
}
TOOL_KEYS = {
    "name": "The tool's code name: the API's and its one operation's (`conv.api.<name>(...)`).",
    "execution_description": "When the LLM should use the tool; its tool description, word for word.",
    "method": "The HTTP method (default POST).",
    "request_url": "The full URL: scheme and host become the base URL, the path the operation's path (a "
    "`{variable}` in it is an argument).",
    "headers": "Request headers: `Content-Type` chooses the body encoding; every other value is a secret "
    "reference, a literal prefix and a reference (`Bearer vault://...`), or a literal that does not look secret.",
    "body_fields": "The body's fields: `{name, type, required, description}` (types String, Number, Integer, "
    "Boolean, Array, Object, any case).",
    "timeout_ms": "The call's timeout.",
    "run_in_background": "Kept as the operation's `background` setting.",
    "allow_http": "As `connection.allow_http`.",
    "private_network": "As `connection.private_network`.",
}
BODY_FIELD_KEYS = {
    "name": "The body property's name (and keyword argument).",
    "type": "String (default), Number, Integer, Boolean, Array or Object, any case.",
    "required": "The call must give it (default false).",
    "description": "Shown in the tool definition.",
}
# Seed 003's type names ("String", "Number", ...) as JSON Schema types.
BODY_FIELD_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def merge_documents(p: Problems, documents: list[Any]) -> dict[str, Any]:
    """One canonical mapping from every document in the file; problems name the document."""
    merged: dict[str, Any] = {"apis": []}
    many = len(documents) > 1
    for index, document in enumerate(documents):
        where = f"document {index + 1}: " if many else ""
        if isinstance(document, list):
            for position, item in enumerate(document):
                if isinstance(item, dict) and set(item) == {"custom_api"}:
                    merged["apis"].append(custom_api_entry(item["custom_api"]))
                else:
                    p.add(f"{where}[{position}]", "a list in a config file holds only {custom_api: ...} mappings")
            continue
        if not isinstance(document, dict):
            if document is not None:  # an empty document (a trailing ---) is fine
                p.add(where.rstrip(": "), "must be a mapping (apis:, custom_api: or tools:) or a list of custom_api")
            continue
        for key in document:
            if key not in TOP_LEVEL_KEYS:
                p.add(f"{where}{key}", f"unknown field; allowed: {', '.join(sorted(TOP_LEVEL_KEYS))}")
        for key in ("vault", "secrets", "redis"):
            if key in document:
                if key in merged:
                    p.add(f"{where}{key}", "is given in more than one document")
                merged[key] = document[key]
        if "apis" in document:
            if not isinstance(document["apis"], list):
                p.add(f"{where}apis", "must be a non-empty list of API definitions")
            else:
                merged["apis"].extend(document["apis"])
        if "custom_api" in document:
            merged["apis"].append(custom_api_entry(document["custom_api"]))
        if "tools" in document:
            if not isinstance(document["tools"], list):
                p.add(f"{where}tools", "must be a list of HTTP API tools")
            else:
                merged["apis"].extend(tool_entry(tool) for tool in document["tools"])
    return merged


def custom_api_entry(raw: Any) -> Any:
    """Seed 004: ``slug`` is the code name; ``name`` becomes the display name."""
    if not isinstance(raw, dict) or "slug" not in raw:
        return raw  # the loader reports what is missing
    entry = {key: value for key, value in raw.items() if key not in ("slug", "name")}
    entry["name"] = raw["slug"]
    if "name" in raw:
        entry["display_name"] = raw["name"]
    return entry


def tool_entry(raw: Any) -> Any:
    """Seed 003's HTTP API request tool as an API with one operation named like the tool.

    The request URL's scheme and host are the base URL and its path the operation's path;
    ``Content-Type`` chooses the body encoding; every other header is injected like a
    ``custom_header`` credential (a value may be ``<prefix> <reference>``, such as
    ``Bearer vault://kv/crm#token``; a literal that looks like a secret is refused)."""
    if not isinstance(raw, dict):
        return raw
    unknown = sorted(set(raw) - set(TOOL_KEYS))
    name = raw.get("name")
    endpoint: dict[str, Any] = {"name": name, "method": raw.get("method", "POST")}
    entry: dict[str, Any] = {"name": name, "endpoints": [endpoint], TOOL_NOTES: {"unknown": unknown}}
    if "execution_description" in raw:
        endpoint["description"] = raw["execution_description"]
    url = raw.get("request_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        entry["connection"] = {"base_url": urlunsplit((parts.scheme, parts.netloc, "", "", ""))}
        endpoint["path"] = parts.path or "/"
        if parts.query or parts.fragment:
            entry["connection"]["base_url"] = url  # the loader names the query/fragment problem
    else:
        entry["connection"] = {"base_url": url}
    for key in ("allow_http", "private_network"):
        if key in raw:
            entry["connection"][key] = raw[key]
    if "timeout_ms" in raw:
        endpoint["timeout_ms"] = raw["timeout_ms"]
    if "run_in_background" in raw:
        endpoint["background"] = raw["run_in_background"]
    if "body_fields" in raw:
        endpoint["request_body"] = _body_schema(raw["body_fields"], entry[TOOL_NOTES])
    headers = raw.get("headers") or {}
    if isinstance(headers, dict):
        injected = []
        for header, value in headers.items():
            if isinstance(header, str) and header.lower() == "content-type":
                endpoint["request_content_type"] = value
                continue
            injected.append(_header(header, value))
        if injected:
            entry["authentication"] = {"type": "custom_header", "config": {"headers": injected}}
    else:
        entry[TOOL_NOTES]["headers"] = "must be a mapping of header name to value"
    return entry


def _header(name: Any, value: Any) -> dict[str, Any]:
    """``Bearer env://TOKEN`` -> prefix ``Bearer `` and the reference; anything else as written."""
    if isinstance(value, str) and not is_reference(value):
        head, sep, last = value.rpartition(" ")
        if sep and is_reference(last):
            return {"name": name, "prefix": head + sep, "value": last}
    return {"name": name, "value": value}


def _body_schema(fields: Any, notes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, list):
        notes["body_fields"] = "must be a list of {name, type, required, description}"
        return {"type": "object"}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for index, item in enumerate(fields):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            notes[f"body_fields[{index}]"] = "must be a mapping with a name"
            continue
        extra = sorted(set(item) - set(BODY_FIELD_KEYS))
        if extra:
            notes[f"body_fields[{index}].{extra[0]}"] = f"unknown field; allowed: {', '.join(sorted(BODY_FIELD_KEYS))}"
        kind = str(item.get("type", "string")).lower()
        if kind not in BODY_FIELD_TYPES:
            notes[f"body_fields[{index}].type"] = (
                f"{shown(item.get('type'))} is not one of {', '.join(BODY_FIELD_TYPES)}"
            )
            kind = "string"
        schema: dict[str, Any] = {"type": BODY_FIELD_TYPES[kind]}
        if item.get("description"):
            schema["description"] = item["description"]
        properties[item["name"]] = schema
        if item.get("required") is True:
            required.append(item["name"])
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    return body


def tool_problems(p: Problems, entry: dict[str, Any]) -> None:
    """Report what ``tool_entry`` noticed while reshaping (the loader calls this per API)."""
    notes = entry.pop(TOOL_NOTES, None)
    if not notes:
        return
    for key in notes.pop("unknown", []):
        p.add(key, f"unknown field for an HTTP API tool; allowed: {', '.join(sorted(TOOL_KEYS))}")
    for field, message in notes.items():
        p.add(field, message)
    content_type = entry["endpoints"][0].get("request_content_type")
    if content_type is not None and content_type not in REQUEST_CONTENT_TYPES:
        p.add("headers.Content-Type", f"{shown(content_type)} is not one of {', '.join(REQUEST_CONTENT_TYPES)}")
        entry["endpoints"][0].pop("request_content_type")


def resolve_local_refs(p: Problems, entry: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref: "#/endpoints/0/response_schema"``-style pointers into the API entry itself.

    Seed 004's document points one schema at another this way. A pointer whose first segment
    is not a key of the entry (``#/$defs/...``) belongs to its own schema and is left alone.
    Like YAML aliases, pointers to pointers can stand for far more than the file holds: what
    they expand to is bounded (values and depth), as the file itself is (``_read``)."""
    if not _has_entry_refs(entry):
        return entry  # nothing to inline: an imported spec's schemas refer only to their own $defs
    produced = deepest = 0
    # A pointer's target, resolved once and shared by every use, as a YAML alias is (the validators
    # then prepare it once): (value, values it counts, its depth).
    expanded: dict[str, tuple[Any, int, int]] = {}

    def resolve_target(ref: str, target: Any, trail: tuple[str, ...], depth: int) -> Any:
        nonlocal produced, deepest
        if ref not in expanded:
            outer, before = deepest, produced
            deepest = depth
            value = resolve(target, (*trail, ref), depth)
            expanded[ref] = (value, produced - before, deepest - depth)
            deepest = max(outer, deepest)
            return value
        value, values, levels = expanded[ref]
        produced += values
        deepest = max(deepest, depth + levels)
        if produced > MAX_VALUES or deepest > MAX_DEPTH:
            raise _Expanded
        return value

    def resolve(node: Any, trail: tuple[str, ...], depth: int) -> Any:
        nonlocal produced, deepest
        produced += 1
        deepest = max(deepest, depth)
        if produced > MAX_VALUES or depth > MAX_DEPTH:
            raise _Expanded
        if isinstance(node, list):
            return [resolve(item, trail, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref[2:].split("/")[0] in entry:
            if ref in trail:
                p.add("$ref", f"{shown(ref)} refers to itself (a cycle: {' -> '.join((*trail, ref))})")
                return {}
            target = _pointer(entry, ref)
            if target is None:
                p.add("$ref", f"{shown(ref)} points to nothing in this API's definition")
                return {}
            resolved = resolve_target(ref, target, trail, depth)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolved, **resolve(siblings, trail, depth)} if siblings else resolved
        return {key: resolve(value, trail, depth + 1) for key, value in node.items()}

    try:
        return {key: resolve(value, (), 0) if key == "endpoints" else value for key, value in entry.items()}
    except _Expanded:
        p.add("$ref", f"the $refs expand to more than {MAX_VALUES} values or {MAX_DEPTH} levels; write it out plainly")
        return {key: value for key, value in entry.items() if key != "endpoints"}


def _has_entry_refs(entry: dict[str, Any]) -> bool:
    """Whether any ``$ref`` in the endpoints points into the entry. Each shared (aliased) mapping
    or list is looked at once, so this costs what the file holds, not what it expands to."""
    seen: set[int] = set()
    stack = [entry.get("endpoints")]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref[2:].split("/")[0] in entry:
                return True
            stack.extend(value for value in node.values() if isinstance(value, dict | list))
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
    return False


class _Expanded(Exception):
    """``$ref`` expansion went past its bounds."""


def _pointer(document: Any, ref: str) -> Any:
    node = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            return None
    return node if isinstance(node, dict) else None
