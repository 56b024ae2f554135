"""Request bytes that are not a valid message get INVALID_ARGUMENT with an ErrorDetail.

grpc calls a method's request deserializer before any servicer code runs, and turns an
exception there into UNKNOWN with no detail. So every CustomApiSidecar method is registered
here with a deserializer that never raises: bytes that do not decode become an
``Undecodable`` marker, which ``server.translate_errors`` turns into our typed error. The
handlers are built from the service descriptor (the proto is the one source of truth), as the
generated ``add_CustomApiSidecarServicer_to_server`` builds them, deserializers aside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from custom_api_client.proto import sidecar_pb2 as pb

from .errors import SidecarError

__all__ = ["Undecodable", "add_servicer"]

SERVICE = pb.DESCRIPTOR.services_by_name["CustomApiSidecar"]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What a method receives instead of a request whose bytes did not decode."""

    message: str  # the request type's name
    size: int  # bytes received

    def error(self) -> SidecarError:
        return SidecarError(
            pb.ErrorCode.INVALID_ARGUMENT,
            f"the request is not a valid {self.message} message ({self.size} bytes that do not decode as one)",
        )


def tolerant(cls: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    """``cls.FromString``, returning ``Undecodable`` where it would raise."""
    name = cls.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Message | Undecodable:
        try:
            return cls.FromString(data)
        except (DecodeError, RecursionError, ValueError):  # what protobuf raises on bad bytes, nesting, UTF-8
            return Undecodable(name, len(data))

    return deserialize


def add_servicer(servicer: Any, server: grpc.aio.Server) -> None:
    """Register every method of the CustomApiSidecar service on ``servicer`` with tolerant deserializers."""
    streaming = [m.name for m in SERVICE.methods if m.client_streaming or m.server_streaming]
    if streaming:
        raise TypeError(f"add_servicer registers unary methods only; streaming: {', '.join(streaming)}")
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=tolerant(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
        for method in SERVICE.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)
