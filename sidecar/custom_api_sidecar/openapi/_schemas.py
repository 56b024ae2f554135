"""Turning spec schemas into self-contained JSON Schemas.

Every ``$ref`` becomes ``#/$defs/<Name>`` and the schemas it needs are copied
into the top-level ``$defs`` of the schema that uses them; a recursive schema
refers to its own def, so it stays finite. Each referenced schema is converted
once per import and shared, which keeps big specs linear: the work per
operation is the size of its own schema plus the names of the defs it needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..validation.keywords import DEFINITIONS, SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED
from ._errors import SpecError
from ._load import display
from ._refs import Location, Resolver, child, fragment, where

# Containers and resource markers: referenced entries are hoisted into the top-level
# $defs, and an $id would re-root '#/$defs/...' refs inside it.
_DROPPED = DEFINITIONS | {"$id", "$schema"}
# Siblings of a root '$ref' that do not change what the schema accepts.
_ANNOTATIONS = frozenset({"description", "title", "summary", "example", "examples", "deprecated"})
_DEF_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class SchemaBundler:
    def __init__(self, resolver: Resolver, components_pointer: str) -> None:
        self._resolver = resolver
        self._components = components_pointer  # where bare discriminator mapping names live
        self._name_of: dict[Location, str] = {}
        self._taken: set[str] = set()
        self._defs: dict[str, tuple[dict[str, Any], frozenset[str]]] = {}  # name -> (schema, defs it uses)
        self._pending: list[tuple[str, Any, Location]] = []
        self._named: list[tuple[Location, str, bool]] = []  # this bundle's (location, name, new name?)
        self.list_items: list[str] = []  # where `items` was a list (read as anyOf), for the report

    def bundle(self, schema: Any, at: Location) -> dict[str, Any]:
        """A self-contained copy of the schema found at ``at``. One that fails (a broken ``$ref``)
        leaves nothing half-done behind, so the importer can skip its operation and go on."""
        self._named = []
        list_items = len(self.list_items)
        try:
            return self._bundle(schema, at)
        except BaseException:
            self._forget_this_bundle(list_items)
            raise

    def _forget_this_bundle(self, list_items: int) -> None:
        """Undo the names given by a failed bundle: a def converted before the failure may refer
        to one that never was, and a later operation reaching it must not find it half-built."""
        for location, name, new in self._named:
            self._name_of.pop(location, None)
            if new:
                self._defs.pop(name, None)
                self._taken.discard(name)
        self._pending.clear()
        del self.list_items[list_items:]

    def _bundle(self, schema: Any, at: Location) -> dict[str, Any]:
        deps: set[str] = set()
        root = self._convert(schema, at, deps)
        self._drain()
        ref = root.get("$ref") if isinstance(root, dict) else None
        if isinstance(ref, str) and set(root) - {"$ref"} <= _ANNOTATIONS:
            # Inline a root that is only a reference, so its properties are visible at the top.
            name = ref.removeprefix("#/$defs/")
            body, deps_of_body = self._defs[name]
            root = {**body, **{k: v for k, v in root.items() if k != "$ref"}}
            deps = set(deps_of_body)
        needed = self._closure(deps)
        if needed:
            root["$defs"] = {name: self._defs[name][0] for name in sorted(needed)}
        return root

    def _closure(self, start: Iterable[str]) -> set[str]:
        needed: set[str] = set()
        stack = list(start)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack.extend(self._defs[name][1])
        return needed

    def _drain(self) -> None:
        while self._pending:
            name, node, loc = self._pending.pop()
            deps: set[str] = set()
            converted = self._convert(node, loc, deps)
            self._defs[name] = (converted, frozenset(deps))

    def _convert(self, node: Any, at: Location, deps: set[str]) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise SpecError(f"a schema must be a mapping, not {type(node).__name__}", display(at[0]), fragment(at[1]))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref":
                name = self._def_name(value, at)
                deps.add(name)
                out["$ref"] = f"#/$defs/{name}"
            elif key in _DROPPED:
                continue
            elif key in SCHEMA_MAP_VALUED and isinstance(value, dict):
                base = child(at[1], key)
                out[key] = {k: self._convert(v, (at[0], child(base, k)), deps) for k, v in value.items()}
            elif key in SCHEMA_LIST_VALUED and isinstance(value, list):
                base = child(at[1], key)
                out[key] = [self._convert(v, (at[0], child(base, i)), deps) for i, v in enumerate(value)]
            elif key in SCHEMA_VALUED and isinstance(value, (dict, bool)):
                out[key] = self._convert(value, (at[0], child(at[1], key)), deps)
            elif key == "items" and isinstance(value, list):
                # OpenAPI allows one items schema; generated specs that give a list mean "any of these".
                base = child(at[1], key)
                self.list_items.append(where((at[0], base)))
                out[key] = {"anyOf": [self._convert(v, (at[0], child(base, i)), deps) for i, v in enumerate(value)]}
            elif key == "discriminator" and isinstance(value, dict) and isinstance(value.get("mapping"), dict):
                out[key] = {**value, "mapping": self._mapping(value["mapping"], at, deps)}
            else:
                out[key] = value  # data and annotations: enum, example, format, nullable, ...
        if out.get("type") == "file":  # Swagger 2 upload
            out["type"] = "string"
            out["format"] = "binary"
        return out

    def _mapping(self, mapping: dict[str, Any], at: Location, deps: set[str]) -> dict[str, Any]:
        out = {}
        for key, target in mapping.items():
            ref = target if isinstance(target, str) and ("/" in target or "#" in target) else None
            if ref is None and isinstance(target, str):
                ref = "#" + child(self._components, target)
            name = self._def_name(ref, at)
            deps.add(name)
            out[key] = f"#/$defs/{name}"
        return out

    def _def_name(self, ref: Any, used_at: Location) -> str:
        location = self._resolver.target(ref, used_at)
        name = self._name_of.get(location)
        if name is not None:
            return name
        node, final = self._resolver.resolve(ref, used_at)
        resolved_as_written = final == location  # not via the enclosing-schema $defs fallback
        chain = [final]
        while isinstance(node, dict) and set(node) == {"$ref"}:  # a pure alias: name the real schema
            node, final = self._follow(node["$ref"], final, chain)
        self._check_ref_cycle(node, final, list(chain))
        name = self._name_of.get(final)
        if name is None:
            name = self._fresh_name(final)
            self._name_of[final] = name
            self._named.append((final, name, True))
            self._pending.append((name, node, final))
        if resolved_as_written and location not in self._name_of:
            self._name_of[location] = name
            self._named.append((location, name, False))
        return name

    def _follow(self, ref: Any, at: Location, chain: list[Location]) -> tuple[Any, Location]:
        node, loc = self._resolver.resolve(ref, at)
        if loc in chain:
            path = " -> ".join(where(x) for x in [*chain, loc])
            raise SpecError(f"$ref cycle with no schema in it: {path}", display(chain[0][0]))
        chain.append(loc)
        return node, loc

    def _check_ref_cycle(self, node: Any, at: Location, chain: list[Location]) -> None:
        """A schema whose top-level $ref leads back to itself describes nothing and would
        loop a validator forever; recursion through properties/items is fine."""
        if at not in chain:
            chain.append(at)
        while isinstance(node, dict) and "$ref" in node:
            node, at = self._follow(node["$ref"], at, chain)

    def _fresh_name(self, location: Location) -> str:
        uri, pointer = location
        last = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if pointer else ""
        if not last:
            last = display(uri).rsplit("/", 1)[-1].split(".", 1)[0]
        base = _DEF_NAME.sub("_", last) or "schema"
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name
