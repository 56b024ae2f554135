"""The Invoke pipeline: small stages composed once, at startup.

    observe -> resolve -> context (from_context) -> operation arguments -> bind arguments
            -> build request -> url allowlist -> response cache (cached operations)
            -> rate limit -> shape response -> send

A stage is ``async def stage(call, call_next) -> UpstreamResponse``; it may work
before ``call_next`` (resolve, bind, build), after it (shape), or around it
(observe, retries). New features plug in as new stages.
"""

from ._call import Call, OutboundRequest, UpstreamResponse
from ._compose import Handler, Stage, compose

__all__ = ["Call", "Handler", "OutboundRequest", "Stage", "UpstreamResponse", "compose"]
