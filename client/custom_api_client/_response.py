"""A ``requests.Response``-like result of ``conv.api.<api>.<op>(...)``."""

from __future__ import annotations

import codecs
import datetime
import json as jsonlib
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from . import _llm_text as llm_text
from .errors import HTTPError


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, ordered response headers.

    ``headers["Set-Cookie"]`` joins repeated values with ", " as requests does;
    ``headers.get_list("Set-Cookie")`` returns each value separately.
    """

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items = items or []

    def get_list(self, key: str) -> list[str]:
        """Every value of the header ``key`` (any case), in the order received."""
        lower = key.lower()
        return [v for k, v in self._items if k.lower() == lower]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated headers included, in the order received."""
        return list(self._items)

    def __getitem__(self, key: str) -> str:
        values = self.get_list(key)
        if not values:
            raise KeyError(key)
        return ", ".join(values)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.get_list(key))

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, str] = {}
        for k, _ in self._items:
            seen.setdefault(k.lower(), k)
        return iter(seen.values())

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._items})

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Response:
    """An upstream's answer, shaped like ``requests.Response``: ``status_code``, ``reason``,
    ``headers`` (case-insensitive, multi-valued), ``content``, ``text``, ``json()``, ``ok``,
    ``raise_for_status()``, ``elapsed`` (a ``timedelta``), ``url`` (secret query values redacted).
    A 4xx or 5xx is a Response too, as in requests; ``job_id`` is set on the 202 of a background
    call, ``from_cache`` when the sidecar answered from its response cache."""

    __slots__ = (
        "_encoding",
        "_llm_text",
        "content",
        "elapsed",
        "from_cache",
        "headers",
        "http_version",
        "job_id",
        "reason",
        "status_code",
        "url",
    )

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: Headers,
        content: bytes,
        elapsed: datetime.timedelta,
        url: str,
        http_version: str = "",
        job_id: str | None = None,
        from_cache: bool = False,
        llm_text: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason or _default_reason(status_code)
        self.headers = headers
        self.content = content
        self.elapsed = elapsed
        self.url = url
        self.http_version = http_version
        self.job_id = job_id  # set on the 202 of a background call: conv.api.jobs.get(job_id)
        # The sidecar answered from its response cache (the operation's `cache:`), as in requests-cache.
        self.from_cache = from_cache
        self._encoding: str | None = None
        self._llm_text = llm_text  # the sidecar's shaped text, for an operation with result:

    @property
    def ok(self) -> bool:
        """True for a status below 400 (also the Response's truth value)."""
        return self.status_code < 400

    def __bool__(self) -> bool:
        return self.ok

    @property
    def is_redirect(self) -> bool:
        """A 301, 302, 303, 307 or 308 with a Location header (the sidecar does not follow redirects)."""
        return "location" in self.headers and self.status_code in (301, 302, 303, 307, 308)

    @property
    def encoding(self) -> str | None:
        """The charset from Content-Type; settable, as in requests."""
        if self._encoding is not None:
            return self._encoding
        content_type = self.headers.get("content-type", "")
        for part in content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"'")
        if content_type.startswith("text/"):
            return "ISO-8859-1"  # RFC 2616 default, which requests also applies
        return None

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def text(self) -> str:
        """The body decoded with ``encoding`` (else UTF-8), undecodable bytes replaced."""
        encoding = self.encoding or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            encoding = "utf-8"
        return self.content.decode(encoding, errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """Parse the body as JSON; raises ``json.JSONDecodeError`` (a ValueError) if it is not."""
        if self.encoding:
            return jsonlib.loads(self.text, **kwargs)
        return jsonlib.loads(self.content, **kwargs)  # bytes: UTF-8/16/32 detected

    def for_llm(self) -> str:
        """The text to hand an LLM as this call's tool result, exactly as the sidecar's MCP server
        shows it: the status line (``HTTP 200 OK``), then on the next line the body as the
        operation's ``result:`` setting shapes it (a JMESPath select, cut at ``max_chars`` with
        ``…[truncated N characters]``), or without that setting the body's whole text (a binary
        body is a one-line note: its type and size)."""
        return llm_text.for_llm(
            self.status_code,
            self.reason,
            self.headers.multi_items(),
            self.content,
            self.job_id or "",
            self._llm_text,
        )

    def iter_content(self, chunk_size: int = 1) -> Iterator[bytes]:
        """The body in pieces of ``chunk_size`` bytes, as in requests (it is already all in memory)."""
        for start in range(0, len(self.content), chunk_size):
            yield self.content[start : start + chunk_size]

    def raise_for_status(self) -> None:
        """Raise ``errors.HTTPError`` (carrying this response) for a 4xx or 5xx status."""
        if 400 <= self.status_code < 600:
            kind = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(f"{self.status_code} {kind} Error: {self.reason} for url: {self.url}", response=self)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


def _default_reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def from_invoke_response(message: Any) -> Response:
    return Response(
        status_code=message.status_code,
        reason=message.reason,
        headers=Headers([(h.key, h.value) for h in message.headers]),
        content=message.body,
        elapsed=datetime.timedelta(seconds=message.elapsed_seconds),
        url=message.url,
        http_version=message.http_version,
        job_id=message.job_id or None,
        from_cache=message.from_cache,
        llm_text=message.llm_text if message.HasField("llm_text") else None,
    )
