"""The ``format`` checks the sidecar enforces: the cheap, unambiguous ones.

Any other format (``binary``, ``password``, ``uri``, vendor formats) is an
annotation only, as JSON Schema allows. ``int32``/``int64`` are not checked
here: ``openapi_to_json_schema`` turns them into ``minimum``/``maximum``, so
they apply to numbers and the error says which bound was crossed.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

# These run with Python's re on untrusted strings, so each is written to fail in linear time
# (no two ways to match the same text) and the longer ones are length-capped first: a check
# costs microseconds whatever the value (tests/test_schema_patterns.py, on a megabyte). "\Z", not "$":
# "$" would also match before a final newline.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)  # ASCII: "\d" is [0-9], not every script's digits
# RFC 3339 date-time: a time zone is mandatory; "T" and "Z" in either case.
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII)
_MAX_DATE_TIME = 64  # room for 35 fractional digits
# Deliberately loose (local@domain.tld, no spaces): RFC 5322 in full is neither cheap nor useful here.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\Z")
_MAX_EMAIL = 254  # RFC 5321: the longest address a mail path can carry
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_date_time(value: str) -> bool:
    match = _DATE_TIME.match(value) if len(value) <= _MAX_DATE_TIME else None
    if match is None or not is_date(match.group(1)):
        return False
    hour, minute, second = (int(match.group(i)) for i in (2, 3, 4))
    return hour < 24 and minute < 60 and second < 61  # 60: a leap second


def is_email(value: str) -> bool:
    return len(value) <= _MAX_EMAIL and _EMAIL.match(value) is not None


def is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


# Called for strings only (both validator libraries skip formats on other types).
STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "date": is_date,
    "date-time": is_date_time,
    "email": is_email,
    "uuid": is_uuid,
}
CHECKED_FORMATS = frozenset(STRING_FORMATS) | frozenset(INT_RANGES)
