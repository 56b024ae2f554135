"""Who is calling, and what the platform knows about the conversation: sent as gRPC metadata on
every call.

- ``x-conversation-id`` / ``x-agent-id``: the sidecar's audit records, spans and dashboard carry them.
- Trusted context values (``connect(..., context={"caller_number": "+441234567890"})``): facts the
  platform verified (the caller's number, the customer's account id). An operation argument
  configured ``from_context: <key>`` takes its value from here, never from the LLM. One metadata
  entry per key: ``x-context-<key>``, the value percent-encoded UTF-8 (``quote(value, safe="")``, or
  ``encodeURIComponent`` in JavaScript; this client leaves visible ASCII other than ``%`` as it is).
  The bounds below are checked here, so a mistake is a ValueError at once, and again by the
  sidecar, which trusts no client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from ._tracing import outgoing_metadata
from .errors import InvalidArgument

CONVERSATION_KEY = "x-conversation-id"
AGENT_KEY = "x-agent-id"
_VALID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # the sidecar checks the same

CONTEXT_PREFIX = "x-context-"
# A context key: what a config's ``from_context:`` names, and part of a metadata key (lowercase).
CONTEXT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
MAX_CONTEXT_KEYS = 16
MAX_CONTEXT_VALUE_CHARS = 256
# Keys and encoded values together, on the wire: well under gRPC's 8 KiB default metadata limit.
MAX_CONTEXT_BYTES = 4096
# No control characters: a value may end up in a header, a path or a log-free audit field.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Sent as they are: visible ASCII but %, so a phone number or an id needs no decoding at the sidecar.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def checked(name: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _VALID.match(value)):
        raise InvalidArgument(f"{name} must be 1-128 characters of letters, digits and . _ : @ / + = -", field=name)
    return value


def context_metadata(context: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The metadata entries of ``context``; InvalidArgument (a ValueError) naming the bad key, never
    echoing a value."""
    if not context:
        return ()
    if not isinstance(context, Mapping):
        raise InvalidArgument("context must be a mapping of key to string value", field="context")
    if len(context) > MAX_CONTEXT_KEYS:
        raise InvalidArgument(
            f"context has {len(context)} keys; at most {MAX_CONTEXT_KEYS} are allowed", field="context"
        )
    pairs = []
    size = 0
    for key, value in context.items():
        if not isinstance(key, str) or not CONTEXT_KEY.match(key):
            shown = repr(key)[:40] if isinstance(key, str) else type(key).__name__
            raise InvalidArgument(
                f"context key {shown} must be 1-64 characters of lowercase letters, digits and _, "
                "starting with a letter",
                field="context",
            )
        if not isinstance(value, str):
            raise InvalidArgument(f"context[{key!r}] must be a string, not {type(value).__name__}", field="context")
        if not value or len(value) > MAX_CONTEXT_VALUE_CHARS:
            raise InvalidArgument(
                f"context[{key!r}] is {len(value)} characters; values are 1-{MAX_CONTEXT_VALUE_CHARS}",
                field="context",
            )
        if CONTROL.search(value):
            raise InvalidArgument(f"context[{key!r}] holds a control character (CR, LF, NUL, ...)", field="context")
        encoded = quote(value, safe=_SAFE)
        size += len(CONTEXT_PREFIX) + len(key) + len(encoded)
        pairs.append((CONTEXT_PREFIX + key, encoded))
    if size > MAX_CONTEXT_BYTES:
        raise InvalidArgument(
            f"context takes {size} bytes as metadata; at most {MAX_CONTEXT_BYTES} are allowed", field="context"
        )
    return tuple(pairs)


class CallContext:
    def __init__(
        self,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        self.conversation_id = checked("conversation_id", conversation_id)
        self.agent_id = checked("agent_id", agent_id)
        self._context = context_metadata(context)
        self.context_keys = tuple(key.removeprefix(CONTEXT_PREFIX) for key, _ in self._context)

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        """The context plus the caller's W3C trace context, for one call."""
        pairs = list(outgoing_metadata() or ())
        if self.conversation_id:
            pairs.append((CONVERSATION_KEY, self.conversation_id))
        if self.agent_id:
            pairs.append((AGENT_KEY, self.agent_id))
        pairs.extend(self._context)
        return tuple(pairs) or None
