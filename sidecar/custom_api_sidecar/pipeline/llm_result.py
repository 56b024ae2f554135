"""Stage: the text the LLM reads, for operations with ``result:`` (custom_api_sidecar.shaping).

It sets ``llm_text`` on the response, which the MCP server shows and the client's
``Response.for_llm()`` returns; the body itself is untouched (the agent's code still gets all of
it). Operations without ``result:`` pay one dictionary lookup. A body big enough for shaping to
take a while (parsing and selecting is pure CPU) is shaped in a worker thread, so the event loop
keeps serving other calls meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..registry import Registry
from ._call import Call, UpstreamResponse
from ._compose import Handler

if TYPE_CHECKING:
    from ..shaping import ResultShaper

log = logging.getLogger("custom_api_sidecar.shaping")

# Parsing is most of the cost (bench.shaping_overhead: a 200 KB body about 4 to 8 ms on a loaded
# 2-core machine); above this a thread hop (about 0.1 ms) is worth keeping the loop free.
THREAD_ABOVE_BYTES = 64 * 1024


class LlmResult:
    def __init__(self, registry: Registry) -> None:
        self._shapers: dict[tuple[str, str], ResultShaper] = {}
        for api in registry.apis.values():
            for op in api.operations.values():
                settings = op.endpoint.result
                if settings is not None:
                    from ..shaping import ResultShaper  # only configs with result: load jmespath

                    self._shapers[(api.name, op.name)] = ResultShaper(settings.select, settings.max_chars)

    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        response = await call_next(call)
        if not self._shapers:
            return response
        op = call.operation
        assert op is not None
        shaper = self._shapers.get((op.api.name, op.name))
        if shaper is None:
            return response
        if len(response.body) > THREAD_ABOVE_BYTES:
            shaped = await asyncio.to_thread(shaper.shape, response.status_code, response.headers, response.body)
        else:
            shaped = shaper.shape(response.status_code, response.headers, response.body)
        if shaped is not None:
            response.llm_text = shaped.text
            if shaped.problem:
                log.warning("%s.%s: result.select was not applied: %s", op.api.name, op.name, shaped.problem)
        return response
