"""Where the sidecar is: the argument, else $CUSTOM_API_SIDECAR, else the default socket."""

from __future__ import annotations

import os

DEFAULT_TARGET = "unix:///tmp/custom-api-sidecar.sock"
TARGET_ENV = "CUSTOM_API_SIDECAR"
# Large enough for any configured response limit; the sidecar enforces the real one.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# A safety net so a wedged sidecar cannot hang an agent forever; the sidecar's
# own timeouts (per API, per operation, per call) normally answer far sooner.
DEFAULT_DEADLINE_SECONDS = 300.0
# Extra time past a per-call timeout, so the sidecar's TIMEOUT error (which names
# the API and operation) arrives before the gRPC deadline cuts the call.
DEADLINE_MARGIN_SECONDS = 1.0


def resolve_target(target: str | None) -> str:
    target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
    if target.startswith("/"):
        return f"unix://{target}"
    return target


def channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # The sidecar is a local hop that restarts with its pod: reconnect within
        # about a second, not after gRPC's default backoff of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def call_deadline(timeout_seconds: float) -> float:
    if timeout_seconds > 0:
        return timeout_seconds + DEADLINE_MARGIN_SECONDS
    return DEFAULT_DEADLINE_SECONDS
