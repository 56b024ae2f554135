"""``$ref`` resolution across the documents of one spec.

A location is ``(uri, pointer)``: an absolute document URI and a JSON pointer
(``""`` is the whole document, ``/components/schemas/Pet`` one schema).
Documents are read once and cached; relative refs resolve against the URI of
the document they appear in, so a multi-file spec works from a directory or a
web server alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urldefrag, urljoin

from .._text import shown
from ._errors import SpecError
from ._load import FetchPolicy, display, read_document

Location = tuple[str, str]  # (document URI, JSON pointer)


def child(pointer: str, key: str | int) -> str:
    return f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"


def fragment(pointer: str) -> str:
    """A pointer as it is written after '#' in messages."""
    return "#" + quote(pointer, safe="/~:@!$&'()*+,;=-._")


def where(location: Location) -> str:
    uri, pointer = location
    return f"{display(uri)}{fragment(pointer)}"


def _split(pointer: str) -> list[str]:
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(pointer)
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


class Resolver:
    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._documents: dict[str, Any] = {}
        self._redirected: dict[str, str] = {}  # requested URI -> final URI, for resolving relative refs
        self._targets: dict[tuple[str, str], Location] = {}  # (document, $ref) -> location

    def add_document(self, uri: str, document: Any) -> None:
        self._documents[uri] = document

    def document(self, uri: str, used_at: Location | None = None) -> Any:
        if uri not in self._documents:
            if used_at is not None and not used_at[0].startswith("file://") and uri.startswith("file://"):
                raise SpecError(
                    f"a spec fetched from a URL may not refer to local file {shown(display(uri))}", *used_at
                )
            try:
                self._documents[uri], final = read_document(uri, self.policy)
            except SpecError as exc:
                if used_at is None:
                    raise
                raise SpecError(
                    f"$ref to {display(uri)} (used at {where(used_at)}) failed: {exc}", display(uri)
                ) from None
            if final != uri:
                self._redirected[uri] = final
                # Refs in it resolve against its final URI: they find it there, not fetched again.
                self._documents.setdefault(final, self._documents[uri])
        return self._documents[uri]

    def final_uri(self, uri: str) -> str:
        return self._redirected.get(uri, uri)

    def target(self, ref: Any, used_at: Location) -> Location:
        """The location a ``$ref`` value points at, relative to the document it is used in."""
        if not isinstance(ref, str):
            raise SpecError(f"$ref must be a string, not {shown(ref)}", display(used_at[0]), fragment(used_at[1]))
        key = (used_at[0], ref)
        location = self._targets.get(key)
        if location is None:
            location = self._targets[key] = self._parse_target(ref, used_at)
        return location

    def _parse_target(self, ref: str, used_at: Location) -> Location:
        # Big specs write the same few refs thousands of times: parsed once per document (see target).
        absolute, frag = urldefrag(urljoin(self.final_uri(used_at[0]), ref))
        pointer = unquote(frag)
        if pointer and not pointer.startswith("/"):
            raise SpecError(
                f"$ref {shown(ref)} uses a plain-name fragment; only JSON pointers (#/...) are supported",
                display(used_at[0]),
                fragment(used_at[1]),
            )
        return absolute, pointer

    def lookup(self, location: Location, ref: str, used_at: Location) -> Any:
        uri, pointer = location
        node = self.document(uri, used_at)
        walked = ""
        for part in _split(pointer):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SpecError(
                    f"broken $ref {shown(ref)}: {display(uri)}{fragment(walked)} has no {shown(part)}",
                    display(used_at[0]),
                    fragment(used_at[1]),
                )
            walked = child(walked, part)
        return node

    def resolve(self, ref: Any, used_at: Location) -> tuple[Any, Location]:
        """Follow one ``$ref``. JSON Schema 2020-12 `#/$defs/X` inside a component schema
        without `$id` is looked up in the enclosing schemas too, as authors mean it."""
        location = self.target(ref, used_at)
        try:
            return self.lookup(location, ref, used_at), location
        except SpecError:
            uri, pointer = location
            if uri == used_at[0] and pointer.startswith(("/$defs/", "/definitions/")):
                scope = _split(used_at[1])
                for depth in range(len(scope), 0, -1):
                    prefix = "".join(child("", part) for part in scope[:depth])
                    candidate = (uri, prefix + pointer)
                    try:
                        return self.lookup(candidate, ref, used_at), candidate
                    except SpecError:
                        continue
            raise

    def deref(self, node: Any, at: Location) -> tuple[Any, Location]:
        """Follow a chain of ``$ref`` objects (parameters, responses, bodies, path items)
        to the real object; a chain that comes back to itself is an error."""
        seen: list[Location] = []
        while isinstance(node, dict) and "$ref" in node:
            if at in seen:
                chain = " -> ".join(where(loc) for loc in [*seen, at])
                raise SpecError(f"$ref cycle with no real object in it: {chain}", display(seen[0][0]))
            seen.append(at)
            node, at = self.resolve(node["$ref"], at)
        return node, at
