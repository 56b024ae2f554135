"""Small asyncio helpers the background loops share."""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives just as
    the event is set (gh-86296), and a background loop cancelled at shutdown then never ends
    (seen: the job dispatcher hung a graceful stop). ``asyncio.timeout`` tells its own
    cancellation from the caller's.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
