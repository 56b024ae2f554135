"""The proto file as a descriptor with its comments (protoc's source info), not as text to regex."""

from __future__ import annotations

import functools
import pathlib
import tempfile
from dataclasses import dataclass

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
PROTO = "custom_api_sidecar/v1/sidecar.proto"

# FileDescriptorProto field numbers (descriptor.proto), the first step of a SourceCodeInfo path.
MESSAGE_TYPE, ENUM_TYPE, SERVICE = 4, 5, 6
# ... and inside a message, enum and service.
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE, SERVICE_METHOD = 2, 2


@dataclass(frozen=True)
class ProtoFile:
    file: descriptor_pb2.FileDescriptorProto
    comments: dict[tuple[int, ...], str]

    def comment(self, *path: int) -> str:
        return self.comments.get(tuple(path), "")


@functools.cache
def load() -> ProtoFile:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "set.pb"
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                str(PROTO_ROOT / PROTO),
            ]
        )
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (file,) = files.file
    comments = {}
    for location in file.source_code_info.location:
        text = " ".join(part for part in (location.leading_comments, location.trailing_comments) if part.strip())
        if text.strip():
            comments[tuple(location.path)] = " ".join(text.split())
    return ProtoFile(file, comments)


def enum_values(name: str) -> list[tuple[str, int, str]]:
    """(name, number, comment) of a top-level enum's values."""
    proto = load()
    for index, enum in enumerate(proto.file.enum_type):
        if enum.name == name:
            return [
                (value.name, value.number, proto.comment(ENUM_TYPE, index, ENUM_VALUE, i))
                for i, value in enumerate(enum.value)
            ]
    raise KeyError(name)
