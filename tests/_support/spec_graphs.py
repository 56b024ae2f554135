"""Hypothesis strategies for OpenAPI documents whose component schemas form a graph.

Real specs reach one schema along many paths: shared references, diamonds, recursion,
reference chains (``C -> B -> A``), references inside ``allOf``/``anyOf``/``oneOf``/``not``/
``items``/``additionalProperties``/``patternProperties`` and ``discriminator.mapping``, with
``nullable``/``readOnly``/``writeOnly`` on the way, and component names that need escaping in a
JSON pointer or a URI (``~``, ``/``, ``%``, space). ``specs()`` draws such documents (OpenAPI 3.0
or Swagger 2.0) together with where each operation's schemas are (``Slot``), so a test can
compare what the importer emitted with the original.

Every cycle the graph has passes through an optional place that descends into the instance (a
property that is not required, ``items`` without ``minItems``, ``additionalProperties``,
``patternProperties``): the documents are valid, finite instances exist, and a validator
terminates. Components are numbered; a reference from component ``i`` to ``j <= i`` (a back
edge, the only way to close a cycle) is drawn only in such a place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from hypothesis import strategies as st

Direction = Literal["request", "response"]
KINDS = ("object", "string", "integer", "array")
# Names that need escaping (~ / in JSON pointers, % and space in URIs), collide once made
# identifier-like ("a/b", "a~b", "a b" -> a_b) or are not YAML anchors ("a.b").
NAMES = st.text(alphabet="ab~/%. _", min_size=1, max_size=4)
PROPERTY_NAMES = ("p", "q", "kind", "$ref", "items", "a/b")
MAX_DEPTH = 3
MEDIA = "application/json"


@dataclass(frozen=True)
class Slot:
    """One schema the importer emits for an operation, and where its original is in the spec."""

    operation: str  # the imported endpoint's name
    where: str  # "request_body", "response_schema" or "parameter:<name>"
    pointer: str  # JSON pointer (unescaped tokens joined by '/') of the original schema
    direction: Direction


@dataclass
class GeneratedSpec:
    document: dict[str, Any]
    slots: list[Slot] = field(default_factory=list)
    components: str = "/components/schemas"  # where component schemas are


def pointer(*tokens: str | int) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


@dataclass
class _Graph:
    draw: Any
    names: list[str]
    kinds: list[str]
    swagger: bool

    @property
    def base(self) -> tuple[str, ...]:
        return ("definitions",) if self.swagger else ("components", "schemas")

    def ref(self, j: int) -> str:
        token = pointer(*self.base, self.names[j])
        # '%' must be written %25 in a URI fragment; other characters are encoded or not, as authors do.
        if "%" in token or self.draw(st.booleans()):
            token = quote(token, safe="/~")
        return "#" + token

    def targets(self, kind: str, owner: int, guarded: bool) -> list[int]:
        return [j for j, k in enumerate(self.kinds) if k == kind and (j > owner or guarded)]

    def flags(self, node: dict[str, Any]) -> dict[str, Any]:
        """nullable / readOnly / writeOnly, sometimes."""
        for flag in self.draw(st.lists(st.sampled_from(("nullable", "readOnly", "writeOnly")), max_size=2)):
            if flag == "nullable":
                node["x-nullable" if self.swagger else "nullable"] = True
            else:
                node[flag] = True
        return node

    # --- schemas: (schema, whether it holds a back edge) ---------------------------------------------

    def schema(self, kind: str, owner: int, guarded: bool, depth: int) -> tuple[Any, bool]:
        if kind == "any":
            kind = self.draw(st.sampled_from((*KINDS, "mixed")))
            if kind == "mixed":
                return self.mixed(owner, guarded, depth)
        choices = ["inline"]
        if self.targets(kind, owner, guarded):
            choices += ["ref", "ref"]
        if depth < MAX_DEPTH:
            choices += ["anyOf"] + (["allOf", "oneOf"] if kind == "object" else [])
        choice = self.draw(st.sampled_from(choices))
        if choice == "ref":
            return self.reference(kind, owner, guarded)
        if choice in ("anyOf", "oneOf"):
            return self.union(choice, kind, owner, guarded, depth)
        if choice == "allOf":
            parts = [self.schema("object", owner, guarded, depth + 1) for _ in range(self.draw(st.integers(1, 2)))]
            return self.flags({"allOf": [p for p, _ in parts]}), any(b for _, b in parts)
        return self.inline(kind, owner, depth)

    def reference(self, kind: str, owner: int, guarded: bool) -> tuple[dict[str, Any], bool]:
        j = self.draw(st.sampled_from(self.targets(kind, owner, guarded)))
        node: dict[str, Any] = {"$ref": self.ref(j)}
        sibling = self.draw(st.sampled_from((None, None, "description", "flags")))
        if sibling == "description":
            node["description"] = "see the component"
        elif sibling == "flags":
            self.flags(node)
        return node, j <= owner

    def union(self, keyword: str, kind: str, owner: int, guarded: bool, depth: int) -> tuple[dict[str, Any], bool]:
        branches = [self.schema(kind, owner, guarded, depth + 1) for _ in range(self.draw(st.integers(1, 3)))]
        node: dict[str, Any] = {keyword: [b for b, _ in branches]}
        objects = [j for j, k in enumerate(self.kinds) if k == "object"]
        if kind == "object" and objects and not self.swagger and self.draw(st.booleans()):
            # The mapping is a reference too: to names (bare or as $ref), back edges allowed, unused ones included.
            mapping = {}
            for value in self.draw(st.lists(st.sampled_from(objects), min_size=1, max_size=3)):
                bare = self.draw(st.booleans())
                mapping[f"v{len(mapping)}"] = self.names[value] if bare else self.ref(value)
            node["discriminator"] = {"propertyName": "kind", "mapping": mapping}
        return self.flags(node), any(b for _, b in branches)

    def mixed(self, owner: int, guarded: bool, depth: int) -> tuple[Any, bool]:
        if depth >= MAX_DEPTH:
            return {}, False
        choice = self.draw(st.sampled_from(("anyOf", "not", "true")))
        if choice == "true":
            return {}, False
        if choice == "not":
            inner, back = self.schema(self.draw(st.sampled_from(KINDS)), owner, guarded, depth + 1)
            return {"not": inner}, back
        kinds = self.draw(st.lists(st.sampled_from(KINDS), min_size=2, max_size=3))
        branches = [self.schema(k, owner, guarded, depth + 1) for k in kinds]
        return self.flags({"anyOf": [b for b, _ in branches]}), any(b for _, b in branches)

    def inline(self, kind: str, owner: int, depth: int) -> tuple[dict[str, Any], bool]:
        draw = self.draw
        if kind == "string":
            node: dict[str, Any] = {"type": "string"}
            extra = draw(st.sampled_from((None, "enum", "maxLength", "pattern")))
            if extra == "enum":
                node["enum"] = draw(
                    st.lists(st.sampled_from(("a", "b", "~", "%")), min_size=1, max_size=3, unique=True)
                )
            elif extra == "maxLength":
                node["maxLength"] = 2
            elif extra == "pattern":
                node["pattern"] = "^[ab]*$"
            return self.flags(node), False
        if kind == "integer":
            node = {"type": "integer"}
            extra = draw(st.sampled_from((None, "bounds", "exclusive", "int32", "enum")))
            if extra == "bounds":
                node.update(minimum=0, maximum=5)
            elif extra == "exclusive":
                node.update(minimum=0, exclusiveMinimum=True)  # 3.0 / Swagger: a boolean flag
            elif extra == "int32":
                node["format"] = "int32"
            elif extra == "enum":
                node["enum"] = [1, 2]
            return self.flags(node), False
        if kind == "array":
            items, back = self.schema("any", owner, True, depth + 1)
            node = {"type": "array", "items": items, "maxItems": 3}
            if not back and draw(st.booleans()):
                node["minItems"] = 1
            return self.flags(node), back
        return self.object(owner, depth)

    def object(self, owner: int, depth: int) -> tuple[dict[str, Any], bool]:
        draw = self.draw
        node: dict[str, Any] = {"type": "object"}
        names = draw(st.lists(st.sampled_from(PROPERTY_NAMES), max_size=4 if depth < MAX_DEPTH else 1, unique=True))
        properties, required, back = {}, [], False
        for name in names:
            sub, sub_back = self.schema("any", owner, True, depth + 1)
            properties[name] = sub
            back = back or sub_back
            if not sub_back and draw(st.integers(0, 2)) > 0:
                required.append(name)  # a back edge stays optional: finite instances exist
        if properties:
            node["properties"] = properties
        if required:
            node["required"] = required
        extra = draw(st.sampled_from((None, None, "additional", "closed", "pattern")))
        if extra == "additional" and depth < MAX_DEPTH:
            sub, sub_back = self.schema("any", owner, True, depth + 1)
            node["additionalProperties"], back = sub, back or sub_back
        elif extra == "closed":
            node["additionalProperties"] = False
        elif extra == "pattern" and depth < MAX_DEPTH and not self.swagger:
            sub, sub_back = self.schema("any", owner, True, depth + 1)
            node["patternProperties"], back = {"^x": sub}, back or sub_back
        if draw(st.integers(0, 5)) == 0:
            # Vendor data, not schemas: a $ref in it means nothing in an emitted schema.
            node["x-links"] = {"$ref": self.ref(draw(st.integers(0, len(self.names) - 1)))}
        if draw(st.integers(0, 5)) == 0:
            node["example"] = {"$ref": "#/components/schemas/Data"}  # data that looks like a reference
        return self.flags(node), back


@st.composite
def specs(draw: Any, swagger: bool | None = None) -> GeneratedSpec:
    """An OpenAPI 3.0 (or 3.1, or Swagger 2.0) document with a component graph and 1-4 operations."""
    if swagger is None:
        swagger = draw(st.integers(0, 3)) == 0
    version = "2.0" if swagger else draw(st.sampled_from(("3.0.3", "3.0.3", "3.1.0")))
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    kinds = [draw(st.sampled_from(KINDS)) for _ in names]
    graph = _Graph(draw, names, kinds, swagger)
    aliases: dict[int, int] = {}
    for j in reversed(range(len(names))):  # kinds first, so every reference knows its target's kind
        later = list(range(j + 1, len(names)))
        if later and draw(st.integers(0, 2)) == 0:
            aliases[j] = draw(st.sampled_from(later))  # an alias points forward: a chain when its target is one
            kinds[j] = kinds[aliases[j]]
    schemas: dict[str, Any] = {}
    for j in reversed(range(len(names))):
        if j in aliases:
            alias: dict[str, Any] = {"$ref": graph.ref(aliases[j])}
            if draw(st.booleans()):
                alias["description"] = "an alias"
            schemas[names[j]] = alias
        elif version == "3.1.0" and draw(st.integers(0, 5)) == 0:
            schemas[names[j]] = True  # 3.1: a boolean schema (here one that accepts anything)
        else:
            schemas[names[j]] = graph.schema(kinds[j], j, False, 0)[0]
            access = draw(st.sampled_from((None, None, "readOnly", "writeOnly")))
            if access:  # a component used as a property: required or not, by direction
                schemas[names[j]][access] = True
    schemas = {name: schemas[name] for name in names}
    spec = GeneratedSpec(_skeleton(version, schemas), components=pointer(*graph.base))
    for i in range(draw(st.integers(1, 4))):
        _operation(draw, graph, spec, i)
    return spec


def _skeleton(version: str, schemas: dict[str, Any]) -> dict[str, Any]:
    info = {"title": "generated", "version": "1"}
    if version == "2.0":
        return {"swagger": "2.0", "info": info, "host": "api.example.com", "paths": {}, "definitions": schemas}
    return {
        "openapi": version,
        "info": info,
        "servers": [{"url": "https://api.example.com"}],
        "paths": {},
        "components": {"schemas": schemas, "parameters": {}, "requestBodies": {}, "responses": {}},
    }


def _operation(draw: Any, graph: _Graph, spec: GeneratedSpec, i: int) -> None:
    """``op<i>`` at ``/op<i>``: a response, maybe a JSON body and query parameters, each schema
    inline or a reference, each part inline or a reference to a shared component."""
    doc, name, path = spec.document, f"op{i}", f"/op{i}"
    has_body = draw(st.booleans())
    method = "post" if has_body else "get"
    op: dict[str, Any] = {"operationId": name, "responses": {}}
    doc["paths"][path] = {method: op}
    at = ("paths", path, method)

    def schema(kind: str) -> Any:
        return graph.schema(kind, -1, False, 0)[0]  # an operation's schema: nothing refers back to it

    response_schema = schema(draw(st.sampled_from(KINDS)))
    if graph.swagger:
        op["responses"]["200"] = {"description": "ok", "schema": response_schema}
        spec.slots.append(Slot(name, "response_schema", pointer(*at, "responses", "200", "schema"), "response"))
        if has_body:
            op["parameters"] = [{"name": "body", "in": "body", "required": True, "schema": schema("object")}]
            spec.slots.append(Slot(name, "request_body", pointer(*at, "parameters", 0, "schema"), "request"))
        return
    response = {"description": "ok", "content": {MEDIA: {"schema": response_schema}}}
    op["responses"]["404"] = {"description": "not found"}
    if draw(st.booleans()):
        doc["components"]["responses"][f"R{i}"] = response
        op["responses"]["200"] = {"$ref": f"#/components/responses/R{i}"}
        where = ("components", "responses", f"R{i}")
    else:
        op["responses"]["200"] = response
        where = (*at, "responses", "200")
    spec.slots.append(Slot(name, "response_schema", pointer(*where, "content", MEDIA, "schema"), "response"))
    if has_body:
        body = {"required": draw(st.booleans()), "content": {MEDIA: {"schema": schema("object")}}}
        if draw(st.booleans()):
            doc["components"]["requestBodies"][f"B{i}"] = body
            op["requestBody"] = {"$ref": f"#/components/requestBodies/B{i}"}
            where = ("components", "requestBodies", f"B{i}")
        else:
            op["requestBody"] = body
            where = (*at, "requestBody")
        spec.slots.append(Slot(name, "request_body", pointer(*where, "content", MEDIA, "schema"), "request"))
    parameters = []
    for k in range(draw(st.integers(0, 2))):
        param = {
            "name": f"q{k}",
            "in": "query",
            "schema": schema(draw(st.sampled_from(("string", "integer", "array")))),
        }
        if draw(st.booleans()):
            doc["components"]["parameters"][f"P{i}_{k}"] = param
            parameters.append({"$ref": f"#/components/parameters/P{i}_{k}"})
            where = ("components", "parameters", f"P{i}_{k}")
        else:
            parameters.append(param)
            where = (*at, "parameters", k)
        spec.slots.append(Slot(name, f"parameter:q{k}", pointer(*where, "schema"), "request"))
    if parameters:
        op["parameters"] = parameters
