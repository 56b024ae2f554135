"""The ``redis:`` section (fleet mode): where fleet-wide state lives, and how to reach it.

Exactly one topology: ``url`` (one Redis), ``cluster: {nodes}`` (Redis Cluster, seed nodes) or
``sentinel: {nodes, service}`` (a primary and its replicas behind Sentinel). Everything else in
the section (username, password, TLS, keys, timeouts, jobs) means the same in all three.

Every secret part (URL with credentials, password, TLS keys, the token encryption key) is a
secret reference; problems are reported through ``add(field, message)``, none raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .._text import shown
from ..secrets import is_reference, parse_reference

AddProblem = Callable[[str, str], None]
ON_UNAVAILABLE_MODES = ("fallback", "fail_closed")


@dataclass(frozen=True)
class RedisTls:
    ca_cert: str | None = None  # PEM, as a secret reference or a literal path (file://...)
    client_cert: str | None = None
    client_key: str | None = None


MAX_NODES = 64
MAX_JOB_SHARDS = 64


@dataclass(frozen=True)
class RedisCluster:
    """``redis.cluster``: seed nodes of a Redis Cluster (the client learns the rest from them)."""

    nodes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RedisSentinel:
    """``redis.sentinel``: the sentinels to ask, and the name of the primary they watch."""

    nodes: tuple[tuple[str, int], ...]
    service: str
    username: str | None = None  # for the sentinels themselves (the primary's are redis.username/password)
    password: str | None = None  # secret reference


@dataclass(frozen=True)
class RedisSettings:
    """The ``redis:`` section: fleet-wide limits, shared OAuth2 tokens, the job stream."""

    url: str  # redis://, rediss:// or unix://; a secret reference or a literal without a password ("" otherwise)
    password: str | None = None  # secret reference
    username: str | None = None
    tls: RedisTls | None = None
    key_prefix: str = "custom-api-sidecar"
    timeout_ms: int = 50  # no call waits on Redis longer than this; then the on_unavailable policy
    on_unavailable: str = "fallback"  # or fail_closed
    token_key: str | None = None  # secret reference: 32-byte AES-GCM key (base64) for tokens at rest
    job_key: str | None = None  # secret reference: 32-byte AES-GCM key (base64) for job records at rest
    share_tokens: bool = True
    rate_limits: bool = True
    jobs: bool = True  # background jobs in a Redis Stream any sidecar runs (else each sidecar's SQLite)
    job_claim_after_s: float = 15.0  # a job whose sidecar went silent this long is run by another
    cache: bool = False  # cached answers (endpoints' cache:) shared by the fleet, sealed under cache_key
    cache_key: str | None = None  # secret reference: 32-byte AES-GCM key (base64) for cached answers at rest
    cluster: RedisCluster | None = None  # instead of url: Redis Cluster
    sentinel: RedisSentinel | None = None  # instead of url: Sentinel
    job_shards: int = 1  # job streams, each its own hash tag (so its own Cluster slot)
    # Replicas that must confirm a job's record (WAIT) before it is answered 202; else it is kept locally.
    # Default: 1 with cluster or sentinel (their point is a replica), 0 for url (one Redis may have none).
    jobs_min_replicas: int = 0

    @property
    def topology(self) -> str:
        return "cluster" if self.cluster else "sentinel" if self.sentinel else "single"


# Key -> the line the config reference shows for it (tools/docs_reference.py fails on a key without one;
# defaults come from RedisSettings).
REDIS_KEYS = {
    "url": "One Redis: `redis://`, `rediss://` (TLS) or `unix://`; a secret reference, or a literal without a "
    "password. Give exactly one of url, cluster and sentinel.",
    "password": "Secret reference to the password.",
    "username": "The ACL user name (Redis 6+).",
    "tls": "`{ca_cert, client_cert, client_key}` for `rediss://`, a cluster or sentinels over TLS.",
    "key_prefix": "Prefix of every key the sidecar writes (share a Redis between fleets with different prefixes).",
    "timeout_ms": "No call waits on Redis longer than this; then on_unavailable decides.",
    "on_unavailable": "fallback (each sidecar alone: local limits, local tokens and jobs) or fail_closed (calls "
    "that need Redis fail).",
    "token_key": "Secret reference to a 32-byte AES-GCM key (base64) sealing OAuth2 tokens in Redis; needed with "
    "share_tokens.",
    "job_key": "Secret reference to a 32-byte AES-GCM key (base64) sealing background job records; needed with jobs.",
    "share_tokens": "One OAuth2 token fetch for the whole fleet.",
    "rate_limits": "Rate limits counted across the fleet (exact), not per sidecar.",
    "jobs": "Background jobs in a Redis Stream any sidecar runs, instead of each sidecar's SQLite file.",
    "job_claim_after_s": "A job whose sidecar went silent this many seconds is run by another.",
    "cache": "Cached answers (endpoints' `cache:`) shared by the fleet, sealed under cache_key.",
    "cache_key": "Secret reference to a 32-byte AES-GCM key (base64) sealing shared cached answers; needed with cache.",
    "cluster": "`{nodes}`: Redis Cluster, instead of url.",
    "sentinel": "`{nodes, service, username, password}`: a primary and its replicas behind Sentinel, instead of url.",
    "job_shards": "Job streams, each its own hash tag (so its own Cluster slot), 1 to 64.",
    "jobs_min_replicas": "Replicas that must confirm a job's record (WAIT) before it is answered 202; else it is "
    "kept locally. Default: 1 with cluster or sentinel, 0 with url.",
}
TLS_KEYS = {
    "ca_cert": "The CA to trust: a secret reference to PEM, or a file:// path.",
    "client_cert": "Client certificate (mTLS): a secret reference to PEM.",
    "client_key": "Its private key: a secret reference to PEM.",
}
CLUSTER_KEYS = {"nodes": "Seed nodes (`host:port`, at most 64): the client learns the rest of the cluster from them."}
SENTINEL_KEYS = {
    "nodes": "The sentinels (`host:port`, at most 64).",
    "service": "The name of the primary the sentinels watch.",
    "username": "User name for the sentinels themselves (the primary's are redis.username and password).",
    "password": "Secret reference to the sentinels' password.",
}
TOPOLOGIES = ("url", "cluster", "sentinel")


class _Reader:
    """Typed reads of one mapping, defaults from a dataclass instance, problems to ``add``."""

    def __init__(self, add: AddProblem, where: str, raw: dict[str, Any], defaults: Any) -> None:
        self.add, self.where, self.raw, self.defaults = add, where, raw, defaults

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}"

    def number(self, key: str, *, integer: bool = False, minimum: float = 0.0, maximum: float = math.inf) -> Any:
        value = self.raw.get(key, getattr(self.defaults, key))
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or not minimum <= value <= maximum or not math.isfinite(value):
            bounds = f"from {minimum:g}" + (f" to {maximum:g}" if maximum != math.inf else "")
            self.add(
                self._field(key), f"must be {'an integer' if integer else 'a number'} {bounds}, not {shown(value)}"
            )
            return getattr(self.defaults, key)
        return value

    def flag(self, key: str) -> bool:
        value = self.raw.get(key, getattr(self.defaults, key))
        if not isinstance(value, bool):
            self.add(self._field(key), f"must be true or false, not {shown(value)}")
            return bool(getattr(self.defaults, key))
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw.get(key, getattr(self.defaults, key))
        if value not in choices:
            self.add(self._field(key), f"{shown(value)} is not one of {', '.join(choices)}")
            return str(getattr(self.defaults, key))
        return str(value)

    def statuses(self, key: str) -> tuple[int, ...]:
        value = self.raw.get(key, list(getattr(self.defaults, key)))
        if not isinstance(value, list) or not all(
            isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 for code in value
        ):
            self.add(self._field(key), f"must be a list of HTTP status codes from 400 to 599, not {shown(value)}")
            return tuple(getattr(self.defaults, key))
        return tuple(value)


def _mapping(add: AddProblem, where: str, raw: Any, allowed: Collection[str]) -> bool:
    if not isinstance(raw, dict):
        add(where, f"must be a mapping, not {type(raw).__name__}")
        return False
    for key in raw:
        if key not in allowed:
            add(f"{where}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
    return True


def parse_redis(add: AddProblem, raw: Any) -> RedisSettings | None:
    if raw is None or not _mapping(add, "redis", raw, REDIS_KEYS):
        return None
    given = [name for name in TOPOLOGIES if raw.get(name) is not None]
    if len(given) > 1:
        add("redis", f"give one of url, cluster or sentinel, not {' and '.join(given)}")
        return None
    cluster = sentinel = None
    url: str | None = ""
    if given == ["cluster"]:
        cluster = _cluster(add, raw["cluster"])
    elif given == ["sentinel"]:
        sentinel = _sentinel(add, raw["sentinel"])
    else:
        url = _redis_url(add, raw.get("url"))
    password = _password(add, "redis.password", raw.get("password"))
    token_key = _key_reference(add, raw, "token_key")
    job_key = _key_reference(add, raw, "job_key")
    cache_key = _key_reference(add, raw, "cache_key")
    username = raw.get("username")
    if username is not None and (not isinstance(username, str) or not username):
        add("redis.username", "must be a non-empty string")
        username = None
    prefix = raw.get("key_prefix", RedisSettings.key_prefix)
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{} \n"):
        add("redis.key_prefix", "must be a non-empty string without braces or whitespace")
        prefix = RedisSettings.key_prefix
    replicated = cluster is not None or sentinel is not None
    r = _Reader(add, "redis", raw, RedisSettings(url=url or "", jobs_min_replicas=1 if replicated else 0))
    settings = RedisSettings(
        url=url or "",
        password=password,
        username=username,
        tls=_tls(add, raw.get("tls")),
        key_prefix=prefix,
        timeout_ms=r.number("timeout_ms", integer=True, minimum=1, maximum=10_000),
        on_unavailable=r.choice("on_unavailable", ON_UNAVAILABLE_MODES),
        token_key=token_key,
        job_key=job_key,
        share_tokens=r.flag("share_tokens"),
        rate_limits=r.flag("rate_limits"),
        jobs=r.flag("jobs"),
        job_claim_after_s=r.number("job_claim_after_s", minimum=1, maximum=3600),
        cache=r.flag("cache"),
        cache_key=cache_key,
        cluster=cluster,
        sentinel=sentinel,
        job_shards=r.number("job_shards", integer=True, minimum=1, maximum=MAX_JOB_SHARDS),
        jobs_min_replicas=r.number("jobs_min_replicas", integer=True, minimum=0, maximum=16),
    )
    return settings if url or cluster or sentinel else None


def _password(add: AddProblem, field: str, password: Any) -> str | None:
    if password is None:
        return None
    if not is_reference(password):
        add(field, "must be a secret reference (vault://, env:// or file://), not a literal")
        return None
    return password if _reference_ok(add, field, password) else None


def _nodes(add: AddProblem, field: str, raw: Any) -> tuple[tuple[str, int], ...]:
    """``host:port`` strings (``[v6]:port`` for IPv6); at least one, at most MAX_NODES."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_NODES:
        add(field, f"must be a list of 1 to {MAX_NODES} host:port addresses, not {shown(raw)}")
        return ()
    nodes = []
    for index, node in enumerate(raw):
        parsed = _host_port(node)
        if parsed is None:
            add(f"{field}[{index}]", f"must be host:port (a port from 1 to 65535), not {shown(node)}")
        else:
            nodes.append(parsed)
    return tuple(nodes)


def _host_port(node: Any) -> tuple[str, int] | None:
    if not isinstance(node, str) or len(node) > 300 or any(c in node for c in "/@ \n\t"):
        return None
    host, _, port = node.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def _cluster(add: AddProblem, raw: Any) -> RedisCluster | None:
    if not _mapping(add, "redis.cluster", raw, CLUSTER_KEYS):
        return None
    nodes = _nodes(add, "redis.cluster.nodes", raw.get("nodes"))
    return RedisCluster(nodes) if nodes else None


def _sentinel(add: AddProblem, raw: Any) -> RedisSentinel | None:
    if not _mapping(add, "redis.sentinel", raw, SENTINEL_KEYS):
        return None
    nodes = _nodes(add, "redis.sentinel.nodes", raw.get("nodes"))
    service = raw.get("service")
    if not isinstance(service, str) or not service or len(service) > 200 or any(c.isspace() for c in service):
        add("redis.sentinel.service", f"is required: the name the sentinels watch (mymaster...), not {shown(service)}")
        service = None
    username = raw.get("username")
    if username is not None and (not isinstance(username, str) or not username):
        add("redis.sentinel.username", "must be a non-empty string")
        username = None
    password = _password(add, "redis.sentinel.password", raw.get("password"))
    if not nodes or service is None:
        return None
    return RedisSentinel(nodes, service, username, password)


def _key_reference(add: AddProblem, raw: dict[str, Any], key: str) -> str | None:
    """An encryption key setting: a secret reference (to base64 of 32 bytes), never the key itself."""
    value = raw.get(key)
    if value is None:
        return None
    if not is_reference(value):
        add(f"redis.{key}", "must be a secret reference to a base64-encoded 32-byte key, not a literal")
        return None
    return value if _reference_ok(add, f"redis.{key}", value) else None


def _redis_url(add: AddProblem, url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        add(
            "redis.url",
            "is required (or redis.cluster or redis.sentinel): redis://host:6379/0, rediss://... or unix:///path, "
            "or a secret reference",
        )
        return None
    if not _reference_ok(add, "redis.url", url):
        return None
    if is_reference(url):
        return url
    parts = urlsplit(url)
    if parts.scheme.startswith("redis+"):
        add("redis.url", f"{parts.scheme}:// is not a URL form here: give redis.cluster.nodes or redis.sentinel")
        return None
    if parts.scheme not in ("redis", "rediss", "unix"):
        add("redis.url", "must be a redis://, rediss:// or unix:// URL, or a secret reference")
        return None
    if parts.password:
        add("redis.url", "must not contain a password; give redis.password as a secret reference")
        return None
    return url


def _tls(add: AddProblem, raw: Any) -> RedisTls | None:
    if raw is None or not _mapping(add, "redis.tls", raw, TLS_KEYS):
        return None
    values: dict[str, str] = {}
    for key in TLS_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not is_reference(value):
            add(f"redis.tls.{key}", "must be a secret reference holding PEM text (file://, vault:// or env://)")
        elif _reference_ok(add, f"redis.tls.{key}", value):
            values[key] = value
    if ("client_cert" in values) != ("client_key" in values):
        add("redis.tls", "client_cert and client_key go together")
    return RedisTls(**values)


def _reference_ok(add: AddProblem, field: str, value: str) -> bool:
    if not is_reference(value):
        return True
    try:
        parse_reference(value)
    except ValueError as exc:
        add(field, str(exc))
        return False
    return True
