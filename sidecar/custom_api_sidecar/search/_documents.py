"""What an operation is found by: the words of its names, texts and arguments.

Per operation: the API's name and display name, the operation's name, its description (an
imported operation's OpenAPI summary and description), its OpenAPI tags, its path's literal
segments (``/crm/v3/objects/contacts/search``), and its argument names, each split into words
(``_terms``). The operation's own name and the API's names are counted twice: they are what the
operation is, where a description also says what it is not ("Deprecated", "see also ...").
Texts are bounded before they are split, so a 1 MB description costs what 4 KB does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config._model import PATH_VARIABLE
from ..registry import Operation, Registry
from ._terms import all_terms

__all__ = ["OperationDocument", "documents"]

MAX_DESCRIPTION_CHARS = 4096  # the start of a description says what the operation does
_NAME_WEIGHT = 2


@dataclass(frozen=True, slots=True)
class OperationDocument:
    api: str
    operation: str
    terms: list[str]


def documents(registry: Registry, synonyms: bool = True) -> list[OperationDocument]:
    """One document per operation, in catalogue order (API order, then operation order)."""
    return [
        OperationDocument(api.name, op.name, operation_terms(op, synonyms))
        for api in registry.apis.values()
        for op in api.operations.values()
    ]


def operation_terms(op: Operation, synonyms: bool = True) -> list[str]:
    api = op.api.config
    names = [api.name, api.display_name, op.name]
    texts = [
        op.endpoint.description[:MAX_DESCRIPTION_CHARS],
        *op.endpoint.tags,
        " ".join(PATH_VARIABLE.split(op.endpoint.path)[::2]),  # literal segments, not {variables}
        *op.parameters,
        *sorted(op.body_properties),
    ]
    return all_terms(names, synonyms) * _NAME_WEIGHT + all_terms(texts, synonyms)
