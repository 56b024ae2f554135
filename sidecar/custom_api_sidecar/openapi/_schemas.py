"""Turning spec schemas into self-contained JSON Schemas.

Every ``$ref`` (and every ``discriminator.mapping`` value, a reference too) becomes
``#/$defs/<Name>`` and the schemas it needs are copied into the top-level ``$defs`` of the schema
that uses them; a recursive schema refers to its own def, so it stays finite. Each referenced
schema is converted once per import and shared, which keeps big specs linear: the work per
operation is the size of its own schema plus the names of the defs it needs.

Refused, with the chain named: a reference cycle that never descends into the value (``A: {allOf:
[B]}``, ``B: {anyOf: [A]}``), on which any validator would loop forever; recursion through a
property or an item is fine. Vendor extensions (``x-*``) are left out: they are for other tools,
and a ``$ref`` inside one would point into a spec the emitted schema no longer has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .._text import shown
from ..validation.keywords import DEFINITIONS, SCHEMA_LIST_VALUED, SCHEMA_MAP_VALUED, SCHEMA_VALUED
from ._errors import SpecError
from ._load import display
from ._refs import Location, Resolver, child, fragment, where

# Containers and resource markers: referenced entries are hoisted into the top-level
# $defs, and an $id would re-root '#/$defs/...' refs inside it.
_DROPPED = DEFINITIONS | {"$id", "$schema"}
# Siblings of a root '$ref' that do not change what the schema accepts.
_ANNOTATIONS = frozenset({"description", "title", "summary", "example", "examples", "deprecated"})
# Keywords that apply their schemas to the value itself rather than to a part of it: a cycle
# made only of these (and $ref) never ends.
_IN_PLACE = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependencies"})
# Keys that hold schemas or references, or are dropped; every other key is copied.
_STRUCTURAL = (
    SCHEMA_MAP_VALUED | SCHEMA_LIST_VALUED | SCHEMA_VALUED | _DROPPED | {"$ref", "dependencies", "discriminator"}
)
# The one extension the sidecar reads (Swagger's nullable).
_KEPT_EXTENSIONS = frozenset({"x-nullable"})
# Def names are written as YAML anchors by `import-openapi` (a shared def once, then aliased).
_DEF_NAME = re.compile(r"[^A-Za-z0-9_-]")
# Nesting of one schema (a mapping or list level counts 2, as in the config loader's bound):
# deeper than any real spec, and within what the loader accepts once the schema is in a config.
MAX_SCHEMA_DEPTH = 100


class SchemaBundler:
    def __init__(self, resolver: Resolver, components: Location) -> None:
        self._resolver = resolver
        self._components = components  # where bare discriminator mapping names live: the entry document's
        self._name_of: dict[Location, str] = {}
        self._location_of: dict[str, Location] = {}
        self._taken: set[str] = set()  # def names given, as _generated_name() sees them
        # name -> (schema, defs it uses, defs it applies to the value itself)
        self._defs: dict[str, tuple[Any, frozenset[str], frozenset[str]]] = {}
        self._pending: list[tuple[str, Any, Location]] = []
        self._broken: dict[str, SpecError] = {}  # defs whose conversion failed: every user fails the same way
        self._finite: set[str] = set()  # defs known to be on no in-place cycle
        self._unchecked: list[str] = []  # converted, not yet checked for in-place cycles
        self.list_items: list[str] = []  # where `items` was a list (read as anyOf), for the report

    def bundle(self, schema: Any, at: Location) -> Any:
        """A self-contained copy of the schema found at ``at``."""
        deps: set[str] = set()
        root = self._convert(schema, at, deps, set(), 0)
        self._drain()
        ref = root.get("$ref") if isinstance(root, dict) else None
        if isinstance(ref, str) and set(root) - {"$ref"} <= _ANNOTATIONS:
            name = ref.removeprefix("#/$defs/")
            self._raise_if_broken(name)
            body, deps_of_body, _ = self._defs[name]
            if isinstance(body, dict):
                # Inline a root that is only a reference, so its properties are visible at the top.
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
                self._raise_if_broken(name)
                needed.add(name)
                stack.extend(self._defs[name][1])
        return needed

    def _raise_if_broken(self, name: str) -> None:
        error = self._broken.get(name)
        if error is not None:
            raise SpecError(error.message, error.source, error.pointer)

    def _drain(self) -> None:
        """Convert the defs named so far. A def that cannot be converted is recorded, not raised:
        the defs left pending by an operation that failed are drained by the next one, which must
        fail only for what it uses itself (``_closure``)."""
        while self._pending:
            name, node, loc = self._pending.pop()
            deps: set[str] = set()
            in_place: set[str] = set()
            try:
                converted = self._convert(node, loc, deps, in_place, 0)
            except SpecError as exc:
                self._broken[name] = exc
                continue
            self._defs[name] = (converted, frozenset(deps), frozenset(in_place))
            self._unchecked.append(name)
        for name in self._unchecked:
            self._check_finite(name)
        self._unchecked.clear()

    def _check_finite(self, start: str) -> None:
        """Depth-first over in-place references from ``start``; a def on the current path
        reached again is a cycle that checks the same value forever: each def on it is broken."""
        if start in self._finite or start in self._broken:
            return
        path: list[str] = [start]
        branches = [iter(sorted(self._defs[start][2]))]
        while branches:
            name = next(branches[-1], None)
            if name is None:
                self._finite.add(path.pop())
                branches.pop()
            elif name in path:
                cycle = [*path[path.index(name) :], name]
                chain = " -> ".join(where(self._location_of[n]) for n in cycle)
                error = SpecError(
                    f"$ref cycle that never reaches a property or an item (a validator would loop forever): {chain}",
                    display(self._location_of[start][0]),
                )
                for n in cycle:
                    self._broken[n] = error
                return
            elif name not in self._finite and name not in self._broken:
                path.append(name)
                branches.append(iter(sorted(self._defs[name][2])))

    def _convert(self, node: Any, at: Location, deps: set[str], in_place: set[str] | None, depth: int) -> Any:
        """``in_place`` collects the defs applied to the same value as ``node`` (None below a
        property or an item); ``depth`` is the nesting so far."""
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise SpecError(f"a schema must be a mapping, not {type(node).__name__}", display(at[0]), fragment(at[1]))
        if depth > MAX_SCHEMA_DEPTH:
            raise SpecError(f"schema nested more than {MAX_SCHEMA_DEPTH} levels deep", display(at[0]), fragment(at[1]))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _STRUCTURAL:  # most keys: data and annotations (type, enum, format, nullable, ...)
                if not key.startswith("x-") or key in _KEPT_EXTENSIONS:
                    out[key] = value
                continue
            same = in_place if key in _IN_PLACE else None
            if key == "$ref":
                name = self._def_name(value, at)
                deps.add(name)
                if in_place is not None:
                    in_place.add(name)
                out["$ref"] = f"#/$defs/{name}"
            elif key in _DROPPED:
                continue
            elif (key in SCHEMA_MAP_VALUED or key == "dependencies") and isinstance(value, dict):
                # draft 7 `dependencies` maps to a schema or to a list of names (left as it is)
                base = child(at[1], key)
                out[key] = {
                    k: v if isinstance(v, list) else self._convert(v, (at[0], child(base, k)), deps, same, depth + 2)
                    for k, v in value.items()
                }
            elif key in SCHEMA_LIST_VALUED and isinstance(value, list):
                base = child(at[1], key)
                out[key] = [
                    self._convert(v, (at[0], child(base, i)), deps, same, depth + 2) for i, v in enumerate(value)
                ]
            elif key in SCHEMA_VALUED and isinstance(value, (dict, bool)):
                out[key] = self._convert(value, (at[0], child(at[1], key)), deps, same, depth + 1)
            elif key == "items" and isinstance(value, list):
                # OpenAPI allows one items schema; generated specs that give a list mean "any of these".
                base = child(at[1], key)
                self.list_items.append(where((at[0], base)))
                out[key] = {
                    "anyOf": [
                        self._convert(v, (at[0], child(base, i)), deps, None, depth + 2) for i, v in enumerate(value)
                    ]
                }
            elif key == "discriminator" and isinstance(value, dict) and isinstance(value.get("mapping"), dict):
                out[key] = {**value, "mapping": self._mapping(value["mapping"], (at[0], child(at[1], key)), deps)}
            else:
                out[key] = value  # a keyword whose value is not a schema here (e.g. `items: 3`)
        if out.get("type") == "file":  # Swagger 2 upload
            out["type"] = "string"
            out["format"] = "binary"
        return out

    def _mapping(self, mapping: dict[str, Any], at: Location, deps: set[str]) -> dict[str, Any]:
        """Each value names a component schema (``Cat``) or is a reference (``#/components/schemas/Cat``,
        ``schemas/cat.yaml``). A name is taken as it is written, never percent-decoded or split at ``/``;
        a value that names no component and has no ``/`` or ``#`` is a name that is missing."""
        out = {}
        for key, target in mapping.items():
            used_at = (at[0], child(child(at[1], "mapping"), key))
            named = self._component(target)
            if named is None and isinstance(target, str) and "/" not in target and "#" not in target:
                raise SpecError(
                    f"discriminator mapping {shown(key)}: no schema named {shown(target)} in {where(self._components)}",
                    display(used_at[0]),
                    fragment(used_at[1]),
                )
            name = self._def_name(target if named is None else named, used_at)
            deps.add(name)
            out[key] = f"#/$defs/{name}"
        return out

    def _component(self, value: Any) -> str | None:
        """``value`` as a reference to the component schema it names, if there is one by that name."""
        if not isinstance(value, str):
            return None
        uri, pointer = self._components
        uri = self._resolver.final_uri(uri)
        try:
            components = self._resolver.lookup((uri, pointer), "", (uri, pointer))
        except SpecError:
            return None
        if not isinstance(components, dict) or value not in components:
            return None
        return uri + fragment(child(pointer, value))

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
        name = self._name_of.get(final)
        if name is None:
            name = self._fresh_name(final)
            self._name_of[final] = name
            self._location_of[name] = final
            self._pending.append((name, node, final))
        if resolved_as_written:
            self._name_of[location] = name
        return name

    def _follow(self, ref: Any, at: Location, chain: list[Location]) -> tuple[Any, Location]:
        node, loc = self._resolver.resolve(ref, at)
        if loc in chain:
            path = " -> ".join(where(x) for x in [*chain, loc])
            raise SpecError(f"$ref cycle with no schema in it: {path}", display(chain[0][0]))
        chain.append(loc)
        return node, loc

    def _fresh_name(self, location: Location) -> str:
        uri, pointer = location
        last = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if pointer else ""
        if not last:
            last = display(uri).rsplit("/", 1)[-1].split(".", 1)[0]
        base = _DEF_NAME.sub("_", last)[:64] or "schema"
        name, n = base, 1
        while _generated_name(name) in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(_generated_name(name))
        return name


def _generated_name(def_name: str) -> str:
    """What fastjsonschema names the function it generates for ``#/$defs/<def_name>``: lower case,
    other characters made ``_``, trailing ones dropped. Two defs equal here (``Pet`` and ``pet``,
    ``a`` and ``a_``) would share one function, and one of them would check the other's values."""
    return re.sub(r"[^a-z0-9]", "_", def_name.lower()).rstrip("_")
