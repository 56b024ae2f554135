"""The compatibility policy (docs/compatibility.md), checked where a check can hold it.

- gRPC ``custom_api_sidecar.v1`` changes only by addition: every message field, enum value and RPC
  of the released contract (recorded in tests/fixtures/proto_v1.json) keeps its number, type and
  shape. After an additive change, record the new contract with ``python -m tests.test_compatibility``.
- A client older than the sidecar survives a newer error code: it raises ``InternalError`` (a
  ``CustomApiError``) with the sidecar's message, instead of failing to decode it.
- Tool names stay ``<api>__<operation>``, cut to 64 characters the same way.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from custom_api_client.errors import CustomApiError, InternalError, from_error_detail
from custom_api_client.proto import sidecar_pb2
from custom_api_client.tools import tool_name

RECORD = pathlib.Path(__file__).resolve().parent / "fixtures" / "proto_v1.json"


def _field(field: Any) -> list[Any]:
    """Number, wire type, repeated or not, and the message or enum it holds."""
    kind = field.message_type or field.enum_type
    return [field.number, field.type, field.is_repeated, kind.full_name if kind else ""]


def _messages(descriptors: Any, prefix: str = "") -> dict[str, dict[str, list[Any]]]:
    out: dict[str, dict[str, list[Any]]] = {}
    for message in descriptors:
        name = prefix + message.name
        out[name] = {f.name: _field(f) for f in message.fields}
        out.update(_messages(message.nested_types, f"{name}."))
    return out


def contract() -> dict[str, Any]:
    """The v1 contract as numbers: fields, enum values and RPCs of sidecar.proto."""
    file = sidecar_pb2.DESCRIPTOR
    enums = {e.name: {v.name: v.number for v in e.values} for e in file.enum_types_by_name.values()}
    for message in file.message_types_by_name.values():
        enums.update({f"{message.name}.{e.name}": {v.name: v.number for v in e.values} for e in message.enum_types})
    services = {
        s.name: {m.name: [m.input_type.full_name, m.output_type.full_name] for m in s.methods}
        for s in file.services_by_name.values()
    }
    return {
        "package": file.package,
        "messages": _messages(file.message_types_by_name.values()),
        "enums": enums,
        "services": services,
    }


def test_the_v1_contract_only_grew():
    recorded, now = json.loads(RECORD.read_text()), contract()
    assert now["package"] == recorded["package"] == "custom_api_sidecar.v1"
    for message, fields in recorded["messages"].items():
        assert message in now["messages"], f"message {message} was removed from v1"
        for field, shape in fields.items():
            assert now["messages"][message].get(field) == shape, f"{message}.{field} changed: {shape}"
        numbers = [shape[0] for shape in now["messages"][message].values()]
        assert len(numbers) == len(set(numbers))
    for enum, values in recorded["enums"].items():
        for name, number in values.items():
            assert now["enums"][enum].get(name) == number, f"{enum}.{name} changed its number"
    for service, methods in recorded["services"].items():
        for method, shape in methods.items():
            assert now["services"][service].get(method) == shape, f"rpc {service}.{method} changed"


@pytest.mark.parametrize("number", [max(sidecar_pb2.ErrorCode.values()) + 1, 999])
def test_an_error_code_newer_than_the_client_is_an_internal_error(number):
    detail = sidecar_pb2.ErrorDetail(code=number, message="a code from a newer sidecar", api="crm")
    error = from_error_detail(detail)
    assert type(error) is InternalError and isinstance(error, CustomApiError)
    assert (error.message, error.api) == ("a code from a newer sidecar", "crm")


def test_known_codes_keep_their_classes():
    detail = sidecar_pb2.ErrorDetail(code=sidecar_pb2.CIRCUIT_OPEN, message="open")
    assert from_error_detail(detail).code == "CIRCUIT_OPEN"


def test_tool_names():
    assert tool_name("crm", "get_contact") == "crm__get_contact"
    assert tool_name("crm.v2", "get contact") == "crm_v2__get_contact"
    long = tool_name("a" * 40, "b" * 40)
    assert len(long) == 64 and long.startswith("a" * 40 + "__" + "b" * 13 + "_")


if __name__ == "__main__":
    RECORD.write_text(json.dumps(contract(), indent=1, sort_keys=True) + "\n")
    print(f"recorded {RECORD}")
