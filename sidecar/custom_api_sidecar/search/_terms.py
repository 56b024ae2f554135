"""Words from names and text, the same way for an operation's document and for a query.

``chat.postMessage``, ``users_lookup_by_email`` and ``getCRMContacts`` split into their words
(on ``_``, ``.``, ``/``, ``-``, any non-alphanumeric, and at case changes), lower-cased, common
English filler words dropped, and a plural or third-person ``s`` taken off (``messages`` and
``sends`` match ``message`` and ``send``). No stemming library: the light rule below costs
nothing to load.

Words that mean the same thing in an API request are then read as one (``SYNONYMS``): an agent
asks to "remove" or "erase" what an operation "deletes", to "find" what it "searches", a
"customer" where the API says "contact". The table is small, general (the verbs of CRUD and the
nouns of chat and CRM APIs), applied to operations and queries alike, and measured both ways
(``python -m bench.search_quality --no-synonyms``): it was written while reading the benchmark's
misses, so the benchmark flatters it; the figures without it are reported beside.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

__all__ = ["SYNONYMS", "terms"]

# A word is a run of letters or of digits; inside letters, a capital starts a new word
# (postMessage -> post message; CRMContacts -> crm contacts).
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "i",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "this",
        "to",
        "up",
        "we",
        "with",
        "you",
        "your",
        "please",
        "can",
        "could",
        "would",
        "should",
        "will",
        "want",
        "need",
    ]
)
MAX_TERM_CHARS = 40  # a longer run of letters is no word anyone searches for


# the word every other word of its group is read as
_GROUPS = {
    "delete": "remove erase destroy drop purge",
    "create": "add make new register insert",
    "get": "fetch retrieve read show view look lookup detail info information describe",
    "list": "every all everyone enumerate browse",
    "update": "edit change modify patch replace",
    "search": "find query",
    "send": "post",
    "user": "member people person employee",
    "channel": "conversation room",
    "photo": "picture avatar image",
    "contact": "customer client lead",
    "team": "workspace",
    "star": "save saved starred bookmark",
}
SYNONYMS = {word: head for head, words in _GROUPS.items() for word in words.split()}


def terms(text: str, synonyms: bool = True) -> Iterator[str]:
    for match in _WORDS.finditer(text):
        word = _normal(match.group(), synonyms)
        if word:
            yield word


@functools.lru_cache(maxsize=1 << 16)  # a catalogue repeats its words: most are seen before
def _normal(found: str, synonyms: bool) -> str:
    """The word as it is indexed and searched; "" for a filler word or an overlong run."""
    word = found.lower()
    if word in _STOP or len(word) > MAX_TERM_CHARS:
        return ""
    word = _singular(word)
    return SYNONYMS.get(word, word) if synonyms else word


def all_terms(texts: Iterable[str], synonyms: bool = True) -> list[str]:
    return [term for text in texts for term in terms(text, synonyms)]


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1]
