"""Results shaped for the LLM: an operation's ``result: {select, max_chars}`` applied to its response.

``ResultShaper`` (``_shape``) turns a response into the text the model reads; ``_select`` runs the
JMESPath expression within bounds on its length, its syntax tree and its work per call. The
pipeline's ``llm_result`` stage calls it, and the text travels in ``InvokeResponse.llm_text`` to the
Python client (``Response.for_llm()``) and the MCP server alike.
"""

from ._select import (
    MAX_SELECT_CHARS,
    MAX_SELECT_DEPTH,
    MAX_SELECT_NODES,
    MAX_SELECT_STEPS,
    SelectError,
    SelectTooCostly,
    compile_select,
    run_select,
    weigh,
)
from ._shape import MAX_RENDER_WEIGHT, ResultShaper, Shaped, render

__all__ = [
    "MAX_RENDER_WEIGHT",
    "MAX_SELECT_CHARS",
    "MAX_SELECT_DEPTH",
    "MAX_SELECT_NODES",
    "MAX_SELECT_STEPS",
    "ResultShaper",
    "SelectError",
    "SelectTooCostly",
    "Shaped",
    "compile_select",
    "render",
    "run_select",
    "weigh",
]
