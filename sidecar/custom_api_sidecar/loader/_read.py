"""A config file's text in, its documents out, with what they may cost bounded before any work.

The file comes from an API-definition author and is hot-reloaded, so it is read as untrusted: a
few hundred bytes of YAML aliases can stand for a billion values (each alias of an alias of ...),
and every later step (``$ref`` resolution, schema compilation) would walk all of them. So the
YAML is composed into its node graph first, and the values it expands to and its depth are
counted there (each shared node once, with its expanded size remembered), before anything is
built from it. JSON has no aliases; its depth and size are checked the same way.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# libyaml when available: an imported spec can make a config file of several MB (3-4x faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Values after aliases are expanded: a generated config for a 1,200-operation public API is
# about half a million. Past this, loading would cost seconds and hundreds of MB.
MAX_VALUES = 2_000_000
MAX_DEPTH = 128  # nesting of mappings and lists; the loader's walks are recursive


class DocumentTooLarge(ValueError):
    """The message says which bound and never quotes the content."""


def read_documents(text: str, json_file: bool) -> list[Any]:
    """Every document of the file, or ValueError (a parse error) / DocumentTooLarge."""
    if len(text) > MAX_CONFIG_BYTES:
        raise DocumentTooLarge(f"is {len(text)} characters, over the {MAX_CONFIG_BYTES}-character limit")
    if json_file:
        try:
            document = json.loads(text)
        except RecursionError:
            raise DocumentTooLarge(f"nests deeper than {MAX_DEPTH} levels") from None
        _check(_measure_values(document))
        return [document]
    loader = _YAML_LOADER(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            _check(_measure_nodes(node))
            documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def _check(measured: tuple[int, int]) -> None:
    values, depth = measured
    if depth > MAX_DEPTH:
        raise DocumentTooLarge(f"nests deeper than {MAX_DEPTH} levels")
    if values > MAX_VALUES:
        raise DocumentTooLarge(
            f"expands to more than {MAX_VALUES} values (YAML aliases count once per use); write it out plainly"
        )


def _measure_nodes(root: yaml.Node) -> tuple[int, int]:
    """(values, depth) of a composed YAML document, counting an aliased node once per use;
    a node that contains itself is refused. Iterative: depth is what is being measured."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            values, depth = 1, 0
            for child in _children(node):
                child_values, child_depth = sizes[id(child)]
                values, depth = values + child_values, max(depth, child_depth)
                if values > MAX_VALUES:
                    break
            sizes[key] = (values, depth + (0 if isinstance(node, yaml.ScalarNode) else 1))
            if values > MAX_VALUES or sizes[key][1] > MAX_DEPTH:
                return sizes[key]
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise DocumentTooLarge("refers to itself through a YAML alias")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure_values(root: Any) -> tuple[int, int]:
    """(values, depth) of parsed JSON (a tree: no value is shared)."""
    values, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        value, depth = stack.pop()
        values += 1
        if isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH or values > MAX_VALUES:
                break
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return values, deepest
