"""errors.md: the ErrorCode enum (proto), the gRPC status each maps to (the sidecar's one table)
and the client exception raised for it."""

from __future__ import annotations

import inspect

from custom_api_client import errors as client_errors
from custom_api_sidecar.errors import GRPC_STATUS

from . import _proto
from ._markdown import MissingDescription, code, page, prose, table


def _first_paragraph(obj: object) -> str:
    doc = inspect.cleandoc(obj.__dict__.get("__doc__") or "")  # its own, not inherited
    return " ".join(doc.split("\n\n")[0].split())


def render() -> str:
    by_code = {cls.code: cls for cls in _client_classes()}
    rows = []
    for name, number, comment in _proto.enum_values("ErrorCode"):
        if number == 0:
            continue
        status = GRPC_STATUS.get(number)
        cls = by_code.get(name)
        if status is None or cls is None:
            raise MissingDescription(f"ErrorCode {name} has no gRPC status or no client exception class")
        meaning = comment or _first_paragraph(cls)
        if not meaning:
            raise MissingDescription(f"ErrorCode {name} has no comment in the proto and no docstring in the client")
        rows.append((code(name), number, code(status.name), code(f"errors.{cls.__name__}"), prose(meaning)))
    codes = {name for name, _, _ in _proto.enum_values("ErrorCode")}
    client_only = [
        (code(f"errors.{cls.__name__}"), code(cls.code), prose(_first_paragraph(cls)))
        for cls in _client_classes()
        if cls.code not in codes
    ]
    for row in client_only:
        if not row[2]:
            raise MissingDescription(f"client exception {row[0]} has no docstring")
    return page(
        "Error codes",
        "A call that gets an upstream response returns it, whatever its HTTP status (as `requests` "
        "does). A call that gets no upstream response fails with one code from this closed set. The "
        "gRPC status carries the code's status; the trailing metadata key `custom-api-error-bin` "
        "carries an `ErrorDetail` message (code, message, api, operation, suggestions, field; see "
        "[gRPC API](grpc.md#errordetail)). The Python client raises one exception class per code, "
        "every one a subclass of `custom_api_client.errors.CustomApiError`.",
        "## Codes\n\n" + table(("code", "number", "gRPC status", "client exception", "meaning"), rows),
        "## Raised by the client only\n\nThese have no code on the wire: the client raises them itself.\n\n"
        + table(("client exception", "`.code`", "meaning"), client_only),
        "## Exception attributes\n\nEvery `CustomApiError` has `.code` (the name above), `.message`, "
        "`.api`, `.operation`, `.suggestions` (close names for an unknown API or operation; the "
        "candidates of `AMBIGUOUS_OPERATION`) and `.field` (the argument or setting at fault). "
        "`errors.InvalidArgument` is also a `ValueError`.",
    )


def _client_classes() -> list[type[client_errors.CustomApiError]]:
    base = client_errors.CustomApiError
    found = [
        obj
        for _, obj in inspect.getmembers(client_errors, inspect.isclass)
        if issubclass(obj, base) and obj is not base and obj.__module__ == client_errors.__name__
    ]
    return sorted(found, key=lambda cls: cls.__name__)
