"""A tools/call result, in MCP's wire shape, from an InvokeResponse or a SidecarError.

- ``content``: the status line (``HTTP 200 OK``), then the body: its JSON text when it is JSON
  (``application/json`` or ``+json``), its text when it is text, a base64 image, audio or
  embedded blob when it is binary; nothing more for an empty body.
- ``structuredContent``: the body when it is a JSON object (what a tool's ``outputSchema``
  describes); for a background call, the job (``job_id``, ``state``).
- With the operation's ``result:`` setting, the sidecar has shaped the body (``llm_text``: a JMESPath
  select, then ``max_chars`` with a truncation marker): the text after the status line is that
  text, and ``structuredContent`` is the shaped value when it is a whole JSON object (never a
  truncated one, never the unshaped body). ``custom_api_client._llm_text`` defines the text, so
  ``Response.for_llm()`` gives the same (the content items joined by a newline).
- ``isError``: an upstream 4xx/5xx, with its status and body as above; or a sidecar error, whose
  text is ``<CODE>: <message>`` exactly as over gRPC, with the ErrorDetail fields in
  ``structuredContent.error``.

Nothing here adds to what the pipeline returns (a redacted, header-sanitized response), so a
result holds no secret the gRPC answer would not.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from custom_api_client._llm_text import TEXT_MEDIA_TYPES, content_type, is_json, status_line
from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError

__all__ = ["error_result", "tool_result"]


def tool_result(response: pb.InvokeResponse, tool: str) -> dict[str, Any]:
    status = status_line(response.status_code, response.reason, response.job_id)
    content: list[dict[str, Any]] = [{"type": "text", "text": status}]
    result: dict[str, Any] = {"content": content, "isError": response.status_code >= 400}
    if response.HasField("llm_text"):  # shaped by the operation's result: setting
        content.append({"type": "text", "text": response.llm_text})
        shaped = _json_object(response.llm_text)
        if shaped is not None:
            result["structuredContent"] = shaped
        return result
    body = response.body
    if not body:
        return result
    media, charset = content_type((h.key, h.value) for h in response.headers)
    if is_json(media):
        try:
            text = body.decode(charset or "utf-8")
            value = json.loads(text)
        except ValueError:  # mislabelled: shown as what it is below
            pass
        else:
            content.append({"type": "text", "text": text})
            if isinstance(value, dict):
                result["structuredContent"] = value
            return result
    if not media or media.startswith("text/") or media in TEXT_MEDIA_TYPES or media.endswith(("+xml", "+json")):
        try:
            content.append({"type": "text", "text": body.decode(charset or "utf-8")})
            return result
        except (UnicodeDecodeError, LookupError):
            pass
    data = base64.b64encode(body).decode("ascii")
    if media.startswith(("image/", "audio/")):
        content.append({"type": media.partition("/")[0], "data": data, "mimeType": media})
    else:
        blob = {"uri": f"custom-api-sidecar:///tools/{tool}/response", "blob": data}
        content.append({"type": "resource", "resource": {**blob, "mimeType": media or "application/octet-stream"}})
    return result


def error_result(err: SidecarError) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": err.code_name, "message": err.message}
    for key in ("api", "operation", "field"):
        if getattr(err, key):
            detail[key] = getattr(err, key)
    if err.suggestions:
        detail["suggestions"] = list(err.suggestions)
    return {
        "content": [{"type": "text", "text": f"{err.code_name}: {err.message}"}],
        "structuredContent": {"error": detail},
        "isError": True,
    }


def _json_object(text: str) -> dict[str, Any] | None:
    """The shaped text's value when it is a JSON object (a truncated text, which ends with the
    marker, never is)."""
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
