"""A config file's text in, its documents out, with what they may cost bounded before any work.

The file comes from an API-definition author and is hot-reloaded, so it is read as untrusted: a
few hundred bytes of YAML aliases can stand for a billion values (each alias of an alias of ...),
and every later step (``$ref`` resolution, schema compilation) would walk all of them. So the
values a document expands to and its depth are counted as it is read (an aliased node once per
use, with its expanded size remembered), and reading stops at the first bound passed. JSON has
no aliases; its depth and size are checked the same way.

YAML is read from libyaml's event stream straight into Python values (``_EventReader``): an
imported 1,200-operation spec makes a config file of 17 MB, whose composed node graph alone
(PyYAML's ``compose``, two position marks per node) took 290 MB and 5 s; from events it takes
about a second and no more memory than the values themselves. The reader takes the plain
subset every config uses (untagged scalars, mappings, sequences, anchors, aliases) and builds
exactly what PyYAML's safe loader builds from it; a document with an explicit tag (``!!set``,
``!!binary``) or a merge key (``<<``) is read the composer's way instead (``_read_composed``).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import yaml

# libyaml when available: an imported spec can make a config file of several MB (3-4x faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Values after aliases are expanded (measured with `python -m bench.large_spec`): the config
# import-openapi writes for a 13 MB, 1,200-operation spec shaped like GitHub's is 1.95 million
# (depth 19), and for a 24 MB one, near the importer's 25 MB limit, 4.1 million. What later steps
# cost grows with this count where a config repeats itself through aliases: at 4.9 million, a
# 290 KB file of aliases took 4.7 s of CPU and 159 MB to validate (2 million took 3.7 s and
# 320 MB before the validators shared definitions, when this bound was 2 million).
MAX_VALUES = 5_000_000
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
        return _EventReader(loader).documents()
    except _Unusual:
        pass
    finally:
        loader.dispose()
    return _read_composed(text)


def document_sizes(text: str, json_file: bool) -> list[tuple[int, int]]:
    """(values, depth) of each document of a config file, as the bounds count them (for the
    scale benchmark and tests: how close a file is to ``MAX_VALUES`` and ``MAX_DEPTH``)."""
    if json_file:
        return [_measure_values(json.loads(text))]
    loader = _YAML_LOADER(text)
    try:
        reader = _EventReader(loader)
        reader.documents()
        return reader.sizes
    except _Unusual:
        pass
    finally:
        loader.dispose()
    loader = _YAML_LOADER(text)
    try:
        sizes = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            sizes.append(_measure_nodes(node))
        return sizes
    finally:
        loader.dispose()


def _read_composed(text: str) -> list[Any]:
    """PyYAML's own way: compose each document's node graph, measure it, then construct it."""
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


class _Unusual(Exception):
    """The document uses YAML the event reader leaves to the composer (a tag, a merge key)."""


_STR = "tag:yaml.org,2002:str"
# Plain scalars the reader leaves to the composer: a merge key, and "=" (a 'value' key).
_COMPOSER_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
_SHORT = 64  # plain scalars up to this long are resolved once and shared (keys, enum values, types)


class _Open:
    """A mapping or sequence being read."""

    __slots__ = ("anchor", "depth", "has_key", "is_list", "key", "start_mark", "start_total", "value")

    def __init__(self, value: Any, anchor: str | None, start_mark: Any, start_total: int) -> None:
        self.value, self.is_list, self.anchor, self.start_mark = value, type(value) is list, anchor, start_mark
        self.start_total = start_total  # the document's value count before this collection
        self.depth = 0  # of its deepest child so far
        self.key: Any = None
        self.has_key = False


class _EventReader:
    """Documents from libyaml's events, counting values and depth as they come (see the module
    docstring). Builds what ``yaml.safe_load_all`` builds: scalars resolved and constructed by
    PyYAML's own resolver and safe constructors, an alias the very object its anchor made."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.plain: dict[str, Any] = {}  # short plain scalar -> its value
        self.sizes: list[tuple[int, int]] = []  # (values, depth) of each document read

    def documents(self) -> list[Any]:
        loader = self.loader
        loader.get_event()  # stream start
        documents = []
        while not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # document start
            documents.append(self._document())
            loader.get_event()  # document end
        return documents

    def _document(self) -> Any:
        """One document. Its values are counted as they come (``total``: an alias adds what its
        anchor expands to), so a collection's own count is what was added while it was open."""
        get_event, plain = self.loader.get_event, self.plain
        scalar_event, alias_event, mapping_start = yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent
        anchors: dict[str, tuple[Any, int, int] | None] = {}  # None while its collection is open
        marks: dict[str, Any] = {}
        stack: list[_Open] = []
        total = 0
        while True:
            event = get_event()
            kind = type(event)
            if kind is scalar_event:
                if event.tag is not None and event.tag != "!":
                    raise _Unusual
                text = event.value
                if not event.implicit[0]:  # quoted or a block scalar: always a string
                    value = text
                elif len(text) <= _SHORT and text in plain:
                    value = plain[text]
                else:
                    value = self._plain_scalar(event)
                total += 1
                depth = 0
                if event.anchor is not None:
                    self._anchor(anchors, marks, event)
                    anchors[event.anchor] = (value, 1, 0)
            elif kind is alias_event:
                if event.anchor not in anchors:
                    raise yaml.composer.ComposerError(None, None, "found undefined alias", event.start_mark)
                anchored = anchors[event.anchor]
                if anchored is None:
                    raise DocumentTooLarge("refers to itself through a YAML alias")
                value, values, depth = anchored
                total += values
                if len(stack) + depth > MAX_DEPTH:
                    raise DocumentTooLarge(f"nests deeper than {MAX_DEPTH} levels")
            elif kind is mapping_start or kind is yaml.SequenceStartEvent:
                if event.tag is not None and event.tag != "!":
                    raise _Unusual
                if event.anchor is not None:
                    self._anchor(anchors, marks, event)
                    anchors[event.anchor] = None
                stack.append(_Open({} if kind is mapping_start else [], event.anchor, event.start_mark, total))
                total += 1
                if len(stack) > MAX_DEPTH:
                    raise DocumentTooLarge(f"nests deeper than {MAX_DEPTH} levels")
                if total > MAX_VALUES:
                    raise DocumentTooLarge(_TOO_MANY)
                continue
            else:  # the end of a mapping or sequence
                done = stack.pop()
                value, depth = done.value, done.depth + 1
                if done.anchor is not None:
                    anchors[done.anchor] = (value, total - done.start_total, depth)
                event = done  # where it started, for an error message
            if total > MAX_VALUES:
                raise DocumentTooLarge(_TOO_MANY)
            if not stack:
                self.sizes.append((total, depth))
                return value
            parent = stack[-1]
            if depth > parent.depth:
                parent.depth = depth
            if parent.is_list:
                parent.value.append(value)
            elif parent.has_key:
                parent.value[parent.key] = value
                parent.has_key = False
            else:
                if type(value) is not str and not isinstance(value, Hashable):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", parent.start_mark, "found unhashable key", event.start_mark
                    )
                parent.key = value
                parent.has_key = True

    def _plain_scalar(self, event: Any) -> Any:
        """The value PyYAML's safe loader gives this untagged plain scalar."""
        text = event.value
        tag = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR:
            value = text
        elif tag in _COMPOSER_TAGS:
            raise _Unusual
        else:
            node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            constructor = self.loader.yaml_constructors.get(tag) or self.loader.yaml_constructors[None]
            value = constructor(self.loader, node)  # null, bool, int, float, timestamp: plain values
        if len(text) <= _SHORT:
            self.plain[text] = value
        return value

    @staticmethod
    def _anchor(anchors: dict[str, Any], marks: dict[str, Any], event: Any) -> None:
        if event.anchor in anchors:
            raise yaml.composer.ComposerError(
                "found duplicate anchor; first occurrence",
                marks[event.anchor],
                "second occurrence",
                event.start_mark,
            )
        marks[event.anchor] = event.start_mark


_TOO_MANY = f"expands to more than {MAX_VALUES} values (YAML aliases count once per use); write it out plainly"


def _check(measured: tuple[int, int]) -> None:
    values, depth = measured
    if depth > MAX_DEPTH:
        raise DocumentTooLarge(f"nests deeper than {MAX_DEPTH} levels")
    if values > MAX_VALUES:
        raise DocumentTooLarge(_TOO_MANY)


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
