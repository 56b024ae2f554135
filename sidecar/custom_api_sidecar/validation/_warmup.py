"""Background compilation of every validator's fast path, after the sidecar starts.

Generating code for a large spec's schemas takes seconds; doing it before
serving would delay every start by that much. The validators are correct
from load on (``jsonschema``); this only makes them faster, smallest schema
first, since request schemas are small and on every call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable

from ._validator import SchemaValidator

log = logging.getLogger("custom_api_sidecar.validation")


class ValidatorWarmup:
    """A sidecar service (``start``/``aclose``)."""

    def __init__(self, validators: Iterable[SchemaValidator]) -> None:
        unique = {id(v): v for v in validators}
        self._pending = sorted(unique.values(), key=lambda v: v.size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="validator-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failed = 0
        for validator in self._pending:
            if self._stop.is_set():
                return
            try:
                validator.compile()
            except Exception as exc:  # the validator keeps working on the slower path
                failed += 1
                log.debug("a schema stays on the slower validator: %s", exc)
        if failed:
            log.warning(
                "%d of %d schemas could not be compiled and use the slower validator", failed, len(self._pending)
            )
        self.done.set()

    async def aclose(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
