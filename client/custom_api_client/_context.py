"""Who is calling: a conversation id and an agent id, sent as gRPC metadata on every call so the
sidecar's audit records, spans and dashboard carry them."""

from __future__ import annotations

import re

from ._tracing import outgoing_metadata
from .errors import InvalidArgument

CONVERSATION_KEY = "x-conversation-id"
AGENT_KEY = "x-agent-id"
_VALID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # the sidecar checks the same


def checked(name: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _VALID.match(value)):
        raise InvalidArgument(f"{name} must be 1-128 characters of letters, digits and . _ : @ / + = -", field=name)
    return value


class CallContext:
    def __init__(self, conversation_id: str | None = None, agent_id: str | None = None) -> None:
        self.conversation_id = checked("conversation_id", conversation_id)
        self.agent_id = checked("agent_id", agent_id)

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        """The context plus the caller's W3C trace context, for one call."""
        pairs = list(outgoing_metadata() or ())
        if self.conversation_id:
            pairs.append((CONVERSATION_KEY, self.conversation_id))
        if self.agent_id:
            pairs.append((AGENT_KEY, self.agent_id))
        return tuple(pairs) or None
