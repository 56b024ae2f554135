"""hvac's HTTP session with a bound on every answer: Vault is asked for ``identity`` encoding,
and each body is read raw and decoded by ``body_decoding`` (in case a proxy in front of Vault
compresses anyway), at most ``MAX_ANSWER_BYTES`` decoded bytes, before hvac sees it.

requests would otherwise read a whole body and decode it with no output bound (urllib3), so a
compressed answer of a few hundred bytes could expand to gigabytes in the sidecar.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions

from ...body_decoding import BodyDecoder, BodyDecodingError, BodyTooLarge, declared_length, read_body

# Vault answers are small JSON documents (a KV secret, a login, a lookup): a secret larger than
# this is refused rather than held in memory.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024


class AnswerTooLarge(requests.exceptions.RequestException):
    """Vault's answer (decoded) is over ``MAX_ANSWER_BYTES``."""


def bounded_session(
    verify: bool | str, cert: tuple[str, str] | None, max_bytes: int = MAX_ANSWER_BYTES
) -> requests.Session:
    """A ``requests.Session`` for ``hvac.Client(session=...)``. hvac takes ``verify`` and ``cert`` from a
    session it is given, so they are set here."""
    session = requests.Session()
    session.verify, session.cert = verify, cert
    session.headers["Accept-Encoding"] = "identity"
    adapter = BoundedAdapter(max_bytes)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class BoundedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        raw = response.raw
        try:
            decoder = BodyDecoder(response.headers.get("Content-Encoding", ""), self.max_bytes)
            declared = declared_length(response.headers.get("Content-Length", ""))
            if declared is not None and declared > decoder.max_input:
                raise BodyTooLarge(self.max_bytes)
            body = read_body(_raw_chunks(raw), decoder)
        except BodyTooLarge:
            raise AnswerTooLarge(f"Vault's answer is over the {self.max_bytes}-byte limit", response=response) from None
        except BodyDecodingError as exc:
            raise requests.exceptions.ContentDecodingError(str(exc), response=response) from None
        finally:
            # A body read to its end has already given its connection back to the pool; one
            # left unread (refused, or bytes after a finished compressed stream) is closed.
            raw.close()
        # What requests (and hvac) read as the body: ``content`` returns ``_content`` once it is set,
        # as after requests' own read. ``raw`` stays, so the session still takes cookies from it.
        response._content, response._content_consumed = body, True
        return response


def _raw_chunks(raw: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The undecoded body, with urllib3's errors mapped as ``requests.Response.iter_content`` maps them."""
    try:
        yield from raw.stream(_CHUNK, decode_content=False)
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
