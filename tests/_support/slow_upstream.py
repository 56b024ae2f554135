"""An HTTP/1.1 upstream that answers every request after a fixed delay, and holds thousands of
connections at once: asyncio, in its own process (so its work never competes with the test's
GIL), on a free loopback port with a deep accept backlog. For bursts of concurrent calls.

    with SlowUpstream(delay=0.5) as upstream: ... upstream.url ...
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

BODY = b'{"ok":true}'


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", 0, backlog=8192)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class SlowUpstream:
    def __init__(self, delay: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(delay)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError("the slow upstream did not start")
        self.url = f"http://127.0.0.1:{int(line)}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)

    def __enter__(self) -> SlowUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    asyncio.run(_serve(float(sys.argv[1])))
