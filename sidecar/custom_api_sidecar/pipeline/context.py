"""Stage: who is calling. The client sends a conversation id and an agent id as gRPC metadata
(``x-conversation-id``, ``x-agent-id``); they go on the span, the audit record and the
dashboard. They are checked here, because they end up in log lines: a value that could forge
or break a line is refused, naming the key."""

from __future__ import annotations

import re

from custom_api_client.proto.sidecar_pb2 import ErrorCode

from ..errors import SidecarError
from ._call import Call, UpstreamResponse
from ._compose import Handler

CONVERSATION_KEY = "x-conversation-id"
AGENT_KEY = "x-agent-id"
# Printable, no spaces, quotes or control characters; room for UUIDs, ULIDs and URNs.
VALID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}\Z")


def read_context(metadata: tuple[tuple[str, object], ...]) -> tuple[str, str]:
    """``(conversation_id, agent_id)`` from call metadata; SidecarError naming a bad value's key."""
    found = {CONVERSATION_KEY: "", AGENT_KEY: ""}
    for key, value in metadata:
        if key in found:
            if not isinstance(value, str) or not VALID.match(value):
                raise SidecarError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"metadata {key}: must be 1-128 characters of letters, digits and . _ : @ / + = -",
                    field=key,
                )
            found[key] = value
    return found[CONVERSATION_KEY], found[AGENT_KEY]


def conversation_of(metadata: tuple[tuple[str, str], ...]) -> str | None:
    """The conversation a stored call (a background job's metadata) was made in, read as
    ``read_context`` reads it (the last value wins) but not judged: None when it had none."""
    found = None
    for key, value in metadata:
        if key == CONVERSATION_KEY:
            found = value
    return found


class ConversationContext:
    async def __call__(self, call: Call, call_next: Handler) -> UpstreamResponse:
        if call.metadata:
            call.conversation_id, call.agent_id = read_context(call.metadata)
        return await call_next(call)
