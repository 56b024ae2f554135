"""Schemas prepared for validators once per definition, so a big spec costs what it holds.

An imported spec gives each operation a self-contained schema: its body plus the ``$defs`` it
needs, the same definition object under the same name in every operation that uses it (YAML
aliases in a config file, shared objects when a spec is imported at load). A generated
1,200-operation spec has 1,175 definitions but over 10,000 places where one is used; preparing
every operation's schema whole took 6 s at load, and each held its own copies. ``SchemaCache``
prepares each definition once (converted from OpenAPI, stripped of patterns RE2 cannot run and
of annotations no validator reads, made plain JSON, digested, checked against the meta-schema),
and every schema holding that same object under that same name shares the result; parts whose
JSON is equal share one copy however they were written, and a schema object met again (a YAML
alias) is prepared once.

Sharing never changes a verdict. Converting a definition looks at its document in one place (a
``required`` property that is ``readOnly`` through a ``$ref``, see ``_openapi``): those lookups
are kept with the conversion and repeated against each new document, and a document where any
answer differs gets a conversion of its own. Whether patterns are stripped depends on the whole
document (``patternProperties`` anywhere), so that is part of what a prepared definition is
shared by. Objects are compared by identity and kept alive by the cache, which lives for one
load: a reloaded config starts afresh.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ._openapi import Direction, Lookups, convert, convert_body, ref_flagged, skipped_flag
from ._patterns import Unenforced, enforce_part, has_keyword

# Draft 2019-09/2020-12 keywords that fastjsonschema (drafts 4-7) does not know.
NEWER_KEYWORDS = (
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "$dynamicRef",
    "minContains",
    "maxContains",
)


class NotJson(ValueError):
    """The schema holds something JSON cannot (a key that is a date, say)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A schema as the validators run it: plain JSON values (as ``json.loads`` gives them, keys in
    sorted order), definitions shared with the other schemas that hold them."""

    schema: Any
    unenforced: tuple[Unenforced, ...]  # what RE2 cannot run, left out
    key: str  # a digest of ``schema``: equal keys, equal schemas
    size: int  # characters of its JSON
    newer_keywords: bool  # names a keyword newer than draft 7 (so never compiled to fastjsonschema)
    parts: tuple[Part, ...]  # the body first, then each definition


@dataclass(slots=True)
class Part:
    """The body of a schema or one of its definitions, prepared."""

    schema: Any
    text: str  # its JSON, keys sorted
    digest: str
    unenforced: tuple[Unenforced, ...]
    newer_keywords: bool
    checked: bool = False  # against the meta-schema (``_validator``)
    references: tuple[str, ...] | None = None  # its $ref values, once looked for (``_validator``)


@dataclass(slots=True)
class _Conversion:
    source: Any  # kept alive: the cache is keyed by its identity
    lookups: tuple[tuple[str, str, bool], ...]
    pattern_properties: bool
    converted: Any  # until a part is made of it (then None: made again if another name needs it)
    parts: dict[tuple[str, bool], Part]  # by (where, patterns stripped)


class SchemaCache:
    """Prepared definitions, shared by the validators built with the same cache (one load)."""

    def __init__(self) -> None:
        self._conversions: dict[tuple[int, str], list[_Conversion]] = {}
        self._prepared: dict[tuple[int, str], tuple[Any, Prepared]] = {}  # the same schema object again
        self._by_digest: dict[str, Part] = {}  # equal parts share one copy, whatever object they came from

    def prepare(self, schema: Any, direction: Direction) -> Prepared:
        """NotJson, or InvalidPattern (``_patterns``) for a pattern that is no regular expression."""
        known = self._prepared.get((id(schema), direction))
        if known is None:
            known = self._prepared[(id(schema), direction)] = (schema, self._prepare(schema, direction))
        return known[1]

    def _prepare(self, schema: Any, direction: Direction) -> Prepared:
        if not isinstance(schema, dict):  # true / false
            part = self._part_of(schema, ())
            return Prepared(part.schema, (), part.digest, len(part.text), part.newer_keywords, (part,))
        skipped = skipped_flag(direction)
        body = convert_body(schema, skipped, annotations=False)
        definitions = [
            (container, name, self._conversion(sub, skipped, schema))
            for container in ("$defs", "definitions")
            if isinstance(schema.get(container), dict)
            for name, sub in schema[container].items()
        ]
        strip = has_keyword(body, "patternProperties") or any(c.pattern_properties for _, _, c in definitions)
        body_part = self._part_of(*enforce_part(body, "", strip))
        parts = [body_part]
        final = dict(body_part.schema) if definitions else body_part.schema
        named: dict[str, dict[str, Part]] = {}
        for container, name, conversion in definitions:
            part = self._part(conversion, f"/{container}/{_escape(name)}", strip, skipped, schema)
            parts.append(part)
            named.setdefault(container, {})[str(name)] = part
        for container, by_name in named.items():
            final[container] = {name: by_name[name].schema for name in sorted(by_name)}
        if named:
            final = {key: final[key] for key in sorted(final)}  # as json.loads(json.dumps(..., sort_keys=True))
        digest = hashlib.sha256(body_part.digest.encode())
        for container in sorted(named):
            for name in sorted(named[container]):
                digest.update(
                    f"\0{container}\0{name}\0{named[container][name].digest}".encode("utf-8", "surrogatepass")
                )
        return Prepared(
            schema=final,
            unenforced=tuple(item for part in parts for item in part.unenforced),
            key=digest.hexdigest(),
            size=sum(len(part.text) for part in parts),
            newer_keywords=any(part.newer_keywords for part in parts)
            or any(name in NEWER_KEYWORDS for by_name in named.values() for name in by_name),
            parts=tuple(parts),
        )

    def _conversion(self, source: Any, skipped: str, root: dict[str, Any]) -> _Conversion:
        """``source`` converted, shared when every lookup its conversion made answers the same in ``root``."""
        known = self._conversions.setdefault((id(source), skipped), [])
        for conversion in known:
            if all(ref_flagged(root, ref, flag) == found for ref, flag, found in conversion.lookups):
                return conversion
        lookups: Lookups = []
        converted = convert(source, skipped, root, lookups, annotations=False)
        pattern_properties = has_keyword(converted, "patternProperties")
        conversion = _Conversion(source, tuple(lookups), pattern_properties, converted, {})
        known.append(conversion)
        return conversion

    def _part(self, conversion: _Conversion, where: str, strip: bool, skipped: str, root: dict[str, Any]) -> Part:
        part = conversion.parts.get((where, strip))
        if part is None:
            converted = conversion.converted
            if converted is None:  # the lookups answer the same in ``root``: so would a new conversion
                converted = convert(conversion.source, skipped, root, annotations=False)
            part = self._part_of(*enforce_part(converted, where, strip))
            conversion.parts[(where, strip)] = part
            conversion.converted = None
        return part

    def _part_of(self, schema: Any, unenforced: tuple[Unenforced, ...]) -> Part:
        try:
            text = json.dumps(schema, sort_keys=True, default=str)
        except (TypeError, ValueError) as exc:  # a key JSON cannot have; a value that nests in itself
            raise NotJson(f"not a JSON document: {str(exc)[:200]}") from None
        digest = hashlib.sha256(text.encode()).hexdigest()
        same = self._by_digest.get(digest)
        if same is not None and same.unenforced == unenforced:
            return same
        part = Part(
            schema=json.loads(text),
            text=text,
            digest=digest,
            unenforced=unenforced,
            newer_keywords=any(f'"{keyword}"' in text for keyword in NEWER_KEYWORDS),
        )
        self._by_digest.setdefault(digest, part)
        return part


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")
