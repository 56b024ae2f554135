"""The text ``import-openapi`` writes, from libyaml's emitter without PyYAML's node graph.

``yaml.dump`` builds a node for every value, then serializes the nodes to events in Python: for
a 1,200-operation spec's config (17 MB, 660,000 values) that took 5 s of the command's 6.
``plain_yaml`` walks the data once and hands the same events straight to libyaml, in about a
second. The text reads back to the same data with the same named anchors, and is the same byte
for byte for real specs; the two emitters differ only in how they spell a few odd keys and
characters (an empty key, characters outside the Basic Multilingual Plane), tests/test_yaml_text.py.
It writes what an imported spec holds (mappings, lists, strings, numbers, booleans, null); for
anything else it returns None and the caller uses ``yaml.dump``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import yaml

_MAP, _SEQ, _STR = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"
_PLAIN = (str, int, float, bool, type(None))


def block_style(value: str) -> str | None:
    """How a string is written: multi-line text as a literal block (``|``), unless it has a
    carriage return or a tab, which a block would not keep exactly."""
    return "|" if "\n" in value and not any(c in value for c in "\r\t") else None


def plain_yaml(data: Any, anchors: Mapping[int, str], width: int) -> str | None:
    """What ``yaml.dump(data, allow_unicode=True, sort_keys=False, width=width)`` writes with the safe dumper,
    strings in ``block_style``, and each mapping whose ``id`` is in ``anchors`` written once under
    that anchor name and aliased where it comes again (nothing else aliased). None when libyaml's
    emitter is missing or ``data`` holds a value other than plain JSON-like data."""
    try:
        from yaml._yaml import CEmitter
    except ImportError:  # PyYAML built without libyaml
        return None
    repeated = _repeated(data, anchors)
    if repeated is None:
        return None
    out = io.StringIO()
    emitter = CEmitter(out, allow_unicode=True, width=width)
    _Writer(emitter.emit, repeated).document(data)
    return out.getvalue()


def _repeated(data: Any, anchors: Mapping[int, str]) -> dict[int, str] | None:
    """The anchored mappings that occur more than once (PyYAML anchors only those), or None
    for data with a value ``plain_yaml`` does not write."""
    seen: set[int] = set()
    repeated: dict[int, str] = {}
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            key = id(node)
            if key in anchors:
                if key in seen:
                    repeated[key] = anchors[key]
                    continue
                seen.add(key)
            for item in node.items():
                stack.extend(item)
        elif isinstance(node, list):
            stack.extend(node)
        elif type(node) not in _PLAIN:
            return None
    return repeated


class _Writer:
    def __init__(self, emit: Any, anchors: dict[int, str]) -> None:
        self.emit, self.anchors = emit, anchors
        self.written: set[int] = set()
        self.resolve = yaml.resolver.Resolver().resolve
        self.tags: dict[str, str] = {}  # scalar text -> the tag a plain scalar of it would be read as

    def document(self, data: Any) -> None:
        emit = self.emit
        emit(yaml.StreamStartEvent())
        emit(yaml.DocumentStartEvent(explicit=None))
        self.node(data)
        emit(yaml.DocumentEndEvent(explicit=None))
        emit(yaml.StreamEndEvent())

    def node(self, value: Any) -> None:
        kind = type(value)
        if kind is str:
            self.scalar(_STR, value, block_style(value))
        elif kind is dict:
            key = id(value)
            anchor = self.anchors.get(key)
            if anchor is not None:
                if key in self.written:
                    self.emit(yaml.AliasEvent(anchor))
                    return
                self.written.add(key)
            self.emit(yaml.MappingStartEvent(anchor, _MAP, True, flow_style=False))
            for item in value.items():
                self.node(item[0])
                self.node(item[1])
            self.emit(yaml.MappingEndEvent())
        elif kind is list:
            self.emit(yaml.SequenceStartEvent(None, _SEQ, True, flow_style=False))
            for item in value:
                self.node(item)
            self.emit(yaml.SequenceEndEvent())
        elif value is None:
            self.scalar("tag:yaml.org,2002:null", "null")
        elif kind is bool:
            self.scalar("tag:yaml.org,2002:bool", "true" if value else "false")
        elif kind is int:
            self.scalar("tag:yaml.org,2002:int", str(value))
        else:
            self.scalar("tag:yaml.org,2002:float", _float(value))

    def scalar(self, tag: str, text: str, style: str | None = None) -> None:
        """As PyYAML's serializer: the tag is implicit when a reader would resolve the text to it."""
        detected = self.tags.get(text)
        if detected is None:
            detected = self.tags[text] = self.resolve(yaml.ScalarNode, text, (True, False))
        self.emit(yaml.ScalarEvent(None, tag, (tag == detected, tag == _STR), text, style=style))


def _float(value: float) -> str:
    """As ``SafeRepresenter.represent_float``."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
