"""grpc.md: services, RPCs, messages, fields and enums of protos/, with their comments."""

from __future__ import annotations

from google.protobuf import descriptor_pb2

from . import _proto
from ._markdown import code, page, prose, table

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in _F.Type.items()
    if name not in ("TYPE_MESSAGE", "TYPE_ENUM", "TYPE_GROUP")
}


def render() -> str:
    proto = _proto.load()
    file = proto.file
    package = file.package
    sections = []
    for s_index, service in enumerate(file.service):
        rows = [
            (
                code(method.name),
                _link(method.input_type, package),
                _link(method.output_type, package),
                prose(proto.comment(_proto.SERVICE, s_index, _proto.SERVICE_METHOD, m_index)),
            )
            for m_index, method in enumerate(service.method)
        ]
        sections.append(
            f"## Service `{package}.{service.name}`\n\n"
            + (prose(proto.comment(_proto.SERVICE, s_index)) + "\n\n" if proto.comment(_proto.SERVICE, s_index) else "")
            + table(("RPC", "request", "response", "what it does"), rows)
        )
    messages = [
        _message(proto, message, (_proto.MESSAGE_TYPE, index), package)
        for index, message in enumerate(file.message_type)
    ]
    enums = [_enum(proto, enum, (_proto.ENUM_TYPE, index)) for index, enum in enumerate(file.enum_type)]
    header = proto.comments.get((12,), "")  # the comment above `syntax`
    return page(
        "gRPC API",
        f"The contract between an agent and its sidecar: `protos/{_proto.PROTO}`, package `{package}`. "
        "The sidecar also serves the standard `grpc.health.v1.Health` service and server reflection, "
        "so `grpcurl` and other generic clients can list and call it. "
        + (prose(header) + " " if header else "")
        + "Field comments below are the proto's own.",
        *sections,
        "## Messages\n\n" + "\n\n".join(messages),
        "## Enums\n\n" + "\n\n".join(enums),
    )


def _link(type_name: str, package: str) -> str:
    name = type_name.lstrip(".").removeprefix(package + ".")
    return f"[`{name}`](#{name.lower().replace('.', '')})"


def _type(field: descriptor_pb2.FieldDescriptorProto, package: str, message: descriptor_pb2.DescriptorProto) -> str:
    entry = next(
        (n for n in message.nested_type if n.options.map_entry and field.type_name.endswith(f".{n.name}")), None
    )
    if entry is not None:  # map<K, V>: protoc's synthetic FooEntry message
        key, value = entry.field
        return f"map&lt;{_type(key, package, entry)}, {_type(value, package, entry)}&gt;"
    if field.type in (_F.TYPE_MESSAGE, _F.TYPE_ENUM):
        text = _link(field.type_name, package)
    else:
        text = code(_SCALARS[field.type])
    if field.label == _F.LABEL_REPEATED:
        return f"repeated {text}"
    if field.proto3_optional:
        return f"optional {text}"
    return text


def _message(
    proto: _proto.ProtoFile, message: descriptor_pb2.DescriptorProto, path: tuple[int, ...], package: str
) -> str:
    heading = f"### {message.name}"
    comment = prose(proto.comment(*path))
    synthetic = {field.oneof_index for field in message.field if field.proto3_optional}
    rows = []
    for index, field in enumerate(message.field):
        oneof = ""
        if field.HasField("oneof_index") and field.oneof_index not in synthetic:
            oneof = f" (one of `{message.oneof_decl[field.oneof_index].name}`)"
        rows.append(
            (
                code(field.name),
                field.number,
                _type(field, package, message) + oneof,
                prose(proto.comment(*path, _proto.MESSAGE_FIELD, index)),
            )
        )
    body = table(("field", "number", "type", "meaning"), rows) if rows else "No fields."
    return "\n\n".join(part for part in (heading, comment, body) if part)


def _enum(proto: _proto.ProtoFile, enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...]) -> str:
    rows = [
        (code(value.name), value.number, prose(proto.comment(*path, _proto.ENUM_VALUE, index)))
        for index, value in enumerate(enum.value)
    ]
    comment = prose(proto.comment(*path))
    return "\n\n".join(
        part for part in (f"### {enum.name}", comment, table(("value", "number", "meaning"), rows)) if part
    )
