"""Python values <-> the contract's typed ``Value`` message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .proto import sidecar_pb2 as pb

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def to_value(obj: Any, where: str = "value") -> pb.Value:
    """Encode ``obj``; ``where`` names the argument in error messages."""
    value = pb.Value()
    if obj is None:
        value.null_value = True
    elif isinstance(obj, bool):  # before int: bool is an int subclass
        value.bool_value = obj
    elif isinstance(obj, int):
        if not _INT64_MIN <= obj <= _INT64_MAX:
            raise _invalid(where, "integer does not fit in 64 bits; pass it as a string")
        value.int_value = obj
    elif isinstance(obj, float):
        value.double_value = obj
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        value.bytes_value = bytes(obj)
    elif isinstance(obj, Mapping):
        value.map_value.SetInParent()  # an empty mapping is still a mapping, not None
        entries = value.map_value.entries
        for key, item in obj.items():
            if not isinstance(key, str):
                raise _invalid(where, f"mapping key {key!r} is not a string")
            entries.add(key=key, value=to_value(item, f"{where}.{key}"))
    elif isinstance(obj, (list, tuple)):
        value.list_value.SetInParent()  # an empty list is still a list, not None
        items = value.list_value.values
        for index, item in enumerate(obj):
            items.append(to_value(item, f"{where}[{index}]"))
    else:
        raise _invalid(
            where, f"{type(obj).__name__} cannot be sent; use str, int, float, bool, None, bytes, list or dict"
        )
    return value


def from_value(value: pb.Value) -> Any:
    """The Python value of a protobuf ``Value`` (the inverse of ``to_value``)."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "list_value":
        return [from_value(item) for item in value.list_value.values]
    if kind == "map_value":
        return {entry.key: from_value(entry.value) for entry in value.map_value.entries}
    return getattr(value, kind)


def _invalid(where: str, problem: str) -> Exception:
    from .errors import InvalidArgument

    return InvalidArgument(f"argument {where!r}: {problem}", field=where)
