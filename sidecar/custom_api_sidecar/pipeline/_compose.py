from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ._call import Call, UpstreamResponse

Handler = Callable[[Call], Awaitable[UpstreamResponse]]


class Stage(Protocol):
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse: ...


def compose(stages: Sequence[Stage], terminal: Handler) -> Handler:
    """Nest the stages around ``terminal`` once, so a call pays no dispatch loop."""
    handler = terminal
    for stage in reversed(stages):
        handler = functools.partial(stage, call_next=handler)
    return handler
