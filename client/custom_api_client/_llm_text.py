"""The text an LLM reads for a response: one definition for the MCP server and ``Response.for_llm()``.

    HTTP 200 OK
    {"status": "shipped", "eta": "2025-06-03"}

The first line is the status (``HTTP 202 Accepted: queued as background job <id>`` for a background
call). The body follows on the next line: the sidecar's shaped text when the operation has a
``result:`` setting (``InvokeResponse.llm_text``), else the body's own text when it is JSON or text,
else a one-line note for a binary body (``[binary body: image/png, 12,345 bytes]``; MCP sends such a
body as an image or a resource instead). Nothing follows the status line for an empty body.

Cut text ends with ``…[truncated 12,345 characters]`` (:func:`truncated`), so the model knows
something is missing. Pure functions over bytes and strings: no dependency beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TEXT_MEDIA_TYPES", "body_text", "content_type", "for_llm", "is_json", "status_line", "truncated"]

# Media types outside text/* that are text (besides +json and +xml).
TEXT_MEDIA_TYPES = (
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/yaml",
)


def truncated(text: str, max_chars: int) -> str:
    """``text`` when it has at most ``max_chars`` characters, else its first ``max_chars`` and a
    marker counting the characters cut: ``…[truncated 12,345 characters]``."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated {len(text) - max_chars:,} characters]"


def content_type(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The lower-cased media type and the charset ("" for none) of the first Content-Type header."""
    for key, value in headers:
        if key.lower() == "content-type":
            media, *params = value.split(";")
            charset = ""
            for param in params:
                name, _, given = param.partition("=")
                if name.strip().lower() == "charset":
                    charset = given.strip().strip('"')
            return media.strip().lower(), charset
    return "", ""


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def body_text(body: bytes, media: str, charset: str) -> str | None:
    """The body as text when it is JSON or text and decodes with its charset (UTF-8 by default);
    None for a binary body, or one that does not decode."""
    textual = not media or media.startswith("text/") or media in TEXT_MEDIA_TYPES or media.endswith("+xml")
    if not (textual or is_json(media)):
        return None
    try:
        return body.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return None


def status_line(status_code: int, reason: str, job_id: str = "") -> str:
    line = f"HTTP {status_code} {reason}".rstrip()
    if job_id:
        line += f": queued as background job {job_id}"
    return line


def for_llm(
    status_code: int,
    reason: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    job_id: str = "",
    shaped: str | None = None,
) -> str:
    """The whole text: the status line, then the shaped text (when the sidecar shaped the body) or
    the body's text, or a note for a binary body."""
    line = status_line(status_code, reason, job_id)
    if shaped is not None:
        return f"{line}\n{shaped}"
    if not body:
        return line
    media, charset = content_type(headers)
    text = body_text(body, media, charset)
    if text is None:
        return f"{line}\n[binary body: {media or 'application/octet-stream'}, {len(body):,} bytes]"
    return f"{line}\n{text}"
