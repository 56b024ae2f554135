"""Background compilation of validators' fast path, after the sidecar starts.

Generating code for a large spec's schemas takes seconds; doing it before
serving would delay every start by that much. The validators are correct
from load on (``jsonschema``); this only makes them faster, smallest schema
first, since request schemas are small and on every call.

The generated code costs memory: about 15 MB per MB of schema JSON (measured on the generated
1,200-operation spec, ``python -m bench.large_spec``: all its 14 MB of schemas took 221 MB and
31 s of CPU). So the warm-up stops at a budget of schema JSON (``DEFAULT_BUDGET_CHARS``: about
30 MB of code); the largest schemas past it stay on jsonschema. A typical config's schemas
fit many times over.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable

from ._validator import SchemaValidator

log = logging.getLogger("custom_api_sidecar.validation")
DEFAULT_BUDGET_CHARS = 2_000_000


class ValidatorWarmup:
    """A sidecar service (``start``/``aclose``). ``budget``: characters of schema JSON to compile."""

    def __init__(self, validators: Iterable[SchemaValidator], budget: int = DEFAULT_BUDGET_CHARS) -> None:
        unique = {id(v): v for v in validators}
        self._pending = sorted(unique.values(), key=lambda v: v.size)
        self._budget = budget
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="validator-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failed = 0
        spent, compiled = 0, set()  # validators of equal schemas share their code (and its cost)
        for index, validator in enumerate(self._pending):
            if self._stop.is_set():
                return
            if validator.key not in compiled:
                if spent + validator.size > self._budget:
                    left = len(self._pending) - index
                    log.info(
                        "validator warm-up: the %d largest of %d schemas stay on jsonschema (compiled: %d "
                        "characters of schema JSON, the budget)",
                        left,
                        len(self._pending),
                        spent,
                    )
                    break
                spent += validator.size
                compiled.add(validator.key)
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
