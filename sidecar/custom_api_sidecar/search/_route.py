"""Which single operation ``call(text, ...)`` goes to: the best match, only when it is clearly
ahead of the next.

The rule: the runner-up scores at most ``CLEAR_RATIO`` of the best's score (the best is at
least 1/CLEAR_RATIO times as good); or there is no runner-up. Otherwise AMBIGUOUS_OPERATION,
listing the close candidates (every match within the ratio, best first) so the agent can pick
one by name or say more. No match at all is UNKNOWN_OPERATION. The ratio is measured on the
benchmark (``python -m bench.search_quality`` prints how many wrong first matches it refuses and
how many right ones it lets through).
"""

from __future__ import annotations

from custom_api_client.proto import sidecar_pb2 as pb

from .._text import shown
from ..errors import SidecarError
from ._index import Match

__all__ = ["CLEAR_RATIO", "route"]

CLEAR_RATIO = 0.6


def route(query: str, matches: list[Match]) -> Match:
    """The one match a call by text goes to; SidecarError when there is none or it is not clear."""
    if not matches:
        raise SidecarError(
            pb.ErrorCode.UNKNOWN_OPERATION,
            f"no operation matches {shown(query)}; search with other words, or call an operation by name",
        )
    best = matches[0]
    close = [m for m in matches[1:] if m.score > best.score * CLEAR_RATIO]
    if not close:
        return best
    candidates = [f"{m.api}.{m.operation}" for m in (best, *close)]
    raise SidecarError(
        pb.ErrorCode.AMBIGUOUS_OPERATION,
        f"{shown(query)} matches more than one operation about as well: {', '.join(candidates)}; "
        "call one of them by name, or say more",
        suggestions=candidates,
    )
