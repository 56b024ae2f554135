"""A tools/call result, in MCP's wire shape, from an InvokeResponse or a SidecarError.

- ``content``: the status line (``HTTP 200 OK``), then the body: its JSON text when it is JSON
  (``application/json`` or ``+json``), its text when it is text, a base64 image, audio or
  embedded blob when it is binary; nothing more for an empty body.
- ``structuredContent``: the body when it is a JSON object (what a tool's ``outputSchema``
  describes); for a background call, the job (``job_id``, ``state``).
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

from custom_api_client.proto import sidecar_pb2 as pb

from ..errors import SidecarError

__all__ = ["error_result", "tool_result"]

_TEXT_TYPES = ("application/xml", "application/javascript", "application/x-www-form-urlencoded", "application/yaml")


def tool_result(response: pb.InvokeResponse, tool: str) -> dict[str, Any]:
    status = f"HTTP {response.status_code} {response.reason}".rstrip()
    if response.job_id:
        status += f": queued as background job {response.job_id}"
    content: list[dict[str, Any]] = [{"type": "text", "text": status}]
    result: dict[str, Any] = {"content": content, "isError": response.status_code >= 400}
    body = response.body
    if not body:
        return result
    media, charset = _content_type(response.headers)
    if media == "application/json" or media.endswith("+json"):
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
    if not media or media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+xml", "+json")):
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


def _content_type(headers: Any) -> tuple[str, str]:
    for header in headers:
        if header.key.lower() == "content-type":
            media, *params = header.value.split(";")
            charset = ""
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "charset":
                    charset = value.strip().strip('"')
            return media.strip().lower(), charset
    return "", ""
