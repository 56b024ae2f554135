"""Reading spec documents from files and http(s) URLs, and parsing JSON or YAML.

A URL is fetched with a total deadline and a size limit, over https unless plain http is
allowed, and only from public addresses unless private ones are explicitly allowed (the
sidecar's one egress classifier, ``custom_api_sidecar.egress``): the host is resolved, every
address checked, and the connection pinned to a checked address (so a second DNS answer cannot
swap in 127.0.0.1). Redirects are followed by hand so each hop is checked the same way.
The body is read raw and decoded with the size limit inside the decoder (``body_decoding``).
"""

from __future__ import annotations

import json
import pathlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
import yaml

from .._text import shown
from ..body_decoding import ACCEPT_ENCODING, BodyDecoder, BodyDecodingError, BodyTooLarge, declared_length, read_body
from ..egress import EgressPolicy, EgressRefused, literal_address
from ._errors import SpecError

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchPolicy:
    allow_private_network: bool = False
    allow_http: bool = False
    timeout: float = DEFAULT_TIMEOUT_SECONDS  # seconds for the whole fetch of one document
    max_bytes: int = DEFAULT_MAX_BYTES
    # Why a local file may not be read (the operator's policy, from the loader), or None to read it.
    local_file_check: Callable[[str], str | None] | None = None


def to_uri(spec: str, base_dir: pathlib.Path | None = None) -> str:
    """A spec location as an absolute URI: http(s) URLs as they are, paths as file:// URIs."""
    if spec.startswith(("http://", "https://", "file://")):
        return spec
    path = pathlib.Path(spec).expanduser()
    if not path.is_absolute():
        path = (base_dir or pathlib.Path.cwd()) / path
    return path.resolve().as_uri()


def display(uri: str) -> str:
    """How a document is named in messages: a path for files, the URL otherwise."""
    return unquote(urlsplit(uri).path) if uri.startswith("file://") else uri


def read_document(uri: str, policy: FetchPolicy) -> tuple[Any, str]:
    """The parsed document and its final URI (after redirects), which relative refs resolve against."""
    if uri.startswith("file://"):
        data = _read_file(uri, policy)
    elif uri.startswith(("http://", "https://")):
        data, uri = fetch_url(uri, policy)
    else:
        raise SpecError(f"cannot read {shown(uri)}: only files and http(s) URLs are supported")
    return parse_document(data, display(uri)), uri


def parse_document(data: bytes, source: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", source) from None
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML is a superset of JSON in practice; let it report the error
    try:
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid JSON or YAML: {exc}", source) from None


def _read_file(uri: str, policy: FetchPolicy) -> bytes:
    path = pathlib.Path(unquote(urlsplit(uri).path))
    refused = policy.local_file_check(str(path)) if policy.local_file_check else None
    if refused:
        raise SpecError(f"refusing to read: {refused}", str(path))
    max_bytes = policy.max_bytes
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecError(f"is {size} bytes, over the {max_bytes}-byte limit", str(path))
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror or exc}", str(path)) from None


def fetch_url(url: str, policy: FetchPolicy) -> tuple[bytes, str]:
    deadline = time.monotonic() + policy.timeout
    with httpx.Client(timeout=policy.timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SpecError("only absolute http(s) URLs can be fetched", url)
            if parts.scheme == "http" and not policy.allow_http:
                raise SpecError("plain http is refused; use https (or allow it with allow_http / --allow-http)", url)
            address = _checked_address(parts.hostname, parts.port, policy, url)
            host = f"[{address}]" if ":" in address else address
            netloc = f"{host}:{parts.port}" if parts.port else host
            pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            headers = {
                "Host": parts.netloc.rpartition("@")[2],
                "Accept": "application/json, application/yaml, */*",
                "Accept-Encoding": ACCEPT_ENCODING,
            }
            try:
                with client.stream(
                    "GET", pinned, headers=headers, extensions={"sni_hostname": parts.hostname}
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise SpecError(f"fetching the spec returned HTTP {response.status_code}", url)
                    return _read_limited(response, policy.max_bytes, deadline, url), url
            except httpx.TimeoutException:
                raise SpecError(f"timed out after {policy.timeout:g} s", url) from None
            except httpx.HTTPError as exc:
                raise SpecError(f"cannot fetch: {exc}", url) from None
    raise SpecError(f"more than {MAX_REDIRECTS} redirects", url)


def _read_limited(response: httpx.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    try:
        decoder = BodyDecoder(response.headers.get("content-encoding", ""), max_bytes)
    except BodyDecodingError as exc:
        raise SpecError(f"cannot decode the response: {exc}", url) from None
    declared = declared_length(response.headers.get("content-length", ""))
    if declared is not None and declared > decoder.max_input:
        raise SpecError(f"is {declared} bytes, over the {max_bytes}-byte limit", url)

    def raw() -> Iterator[bytes]:
        for chunk in response.iter_raw():
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("deadline exceeded")
            yield chunk

    try:
        return read_body(raw(), decoder)
    except BodyTooLarge:
        raise SpecError(f"is over the {max_bytes}-byte limit", url) from None
    except BodyDecodingError as exc:
        raise SpecError(f"cannot decode the response: {exc}", url) from None


def _checked_address(hostname: str, port: int | None, policy: FetchPolicy, url: str) -> str:
    """Resolve ``hostname`` and return one address to connect to, refusing non-public ones."""
    literal = literal_address(hostname)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(hostname, port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise SpecError(f"cannot resolve host {shown(hostname)}: {exc.strerror or exc}", url) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    try:
        EgressPolicy(private_network=policy.allow_private_network).check(
            hostname, [a for a in map(literal_address, addresses) if a is not None]
        )
    except EgressRefused as exc:
        raise SpecError(
            f"refusing to fetch: {str(exc).split(' (')[0]} (allow it explicitly with allow_private_network / "
            "--allow-private-network)",
            url,
        ) from None
    return addresses[0]


class _SpecLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML, but dates stay strings: a spec's `example: 2024-01-01` is text, not a datetime."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
