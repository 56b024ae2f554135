"""The floor: a gRPC server with the sidecar's own service and runtime that does no work.

Invoke returns a canned response shaped like a real one (1 KB body, a few headers),
so the client does the same decoding as through the sidecar. Run as
``python -m bench._floor unix:///path 127.0.0.1:PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import uvloop

from custom_api_client.proto import sidecar_pb2, sidecar_pb2_grpc

from ._upstream import BODY

RESPONSE = sidecar_pb2.InvokeResponse(
    status_code=200,
    reason="OK",
    headers=[
        sidecar_pb2.KeyValue(key="Server", value="nginx"),
        sidecar_pb2.KeyValue(key="Content-Type", value="application/json"),
        sidecar_pb2.KeyValue(key="Content-Length", value=str(len(BODY))),
    ],
    body=BODY,
    elapsed_seconds=0.0001,
    url="http://127.0.0.1/items/42",
    http_version="HTTP/1.1",
)


class DoNothing(sidecar_pb2_grpc.CustomApiSidecarServicer):
    async def Invoke(  # type: ignore[override]
        self, request: sidecar_pb2.InvokeRequest, context: grpc.aio.ServicerContext
    ) -> sidecar_pb2.InvokeResponse:
        return RESPONSE


async def _main(addresses: list[str]) -> None:
    server = grpc.aio.server()
    sidecar_pb2_grpc.add_CustomApiSidecarServicer_to_server(DoNothing(), server)
    for address in addresses:
        server.add_insecure_port(address)
    await server.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


if __name__ == "__main__":
    uvloop.run(_main(sys.argv[1:]))  # the sidecar's event loop too (custom_api_sidecar.server.run)
