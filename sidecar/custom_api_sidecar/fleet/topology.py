"""The one place that knows which Redis topology fleet mode talks to (``redis.url``,
``redis.cluster`` or ``redis.sentinel``): it builds the client, checks it, resets it after an
outage, and runs a write that must reach a replica. Every feature calls ``FleetRedis.run``
with the client it returns and never asks which kind it is.

- **single** (``url``): redis-py's ``Redis.from_url``;
- **cluster**: ``redis.asyncio.cluster.RedisCluster`` seeded with ``startup_nodes``; it learns
  the slot map and follows MOVED after a failover. A fleet key's hash tag ``{env:api}`` keeps all
  of one API's keys (and each job shard's keys) in one slot, so their scripts and MULTIs run there;
- **sentinel**: ``redis.asyncio.sentinel.Sentinel(...).master_for(service)``: every new
  connection asks the sentinels where the primary is, and one to a demoted primary is dropped.

Username, password and TLS apply to the data nodes in all three (with cluster and sentinel,
TLS is on when ``redis.tls`` is given; with ``url``, when its scheme is ``rediss``). Sentinels
themselves get ``redis.sentinel.username``/``password`` and the same TLS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import MovedError, ResponseError

from ..config import RedisSettings

# redis-py's own per-node pool settings; ours bound every command from outside (FleetRedis.run).
NODE_SETTINGS = ("socket_connect_timeout", "retry", "max_connections")


def build(
    settings: RedisSettings, url: str | None, kwargs: dict[str, Any], sentinel_password: str | None
) -> aioredis.Redis:
    """The client for the configured topology. ``kwargs`` are the connection settings shared by
    all three (timeouts, credentials, TLS files); ``url`` is the resolved ``redis.url`` (single)."""
    if settings.cluster is not None:
        nodes = [ClusterNode(host, port) for host, port in settings.cluster.nodes]
        cluster = RedisCluster(
            startup_nodes=nodes,  # a failover is a connection error, then a new slot map (kwargs' retry: once)
            ssl=settings.tls is not None,
            **kwargs,
        )
        # RedisCluster serves the same commands as Redis (single-slot scripts, pipelines, MULTI): the
        # features are written once against Redis's API.
        return cast("aioredis.Redis", cluster)
    if settings.sentinel is not None:
        sentinel = settings.sentinel
        tls: dict[str, Any] = {"ssl": True} if settings.tls is not None else {}
        shared = {key: value for key, value in kwargs.items() if key not in ("username", "password")}
        asked = {**shared, **tls, "username": sentinel.username, "password": sentinel_password}
        manager = Sentinel(list(sentinel.nodes), sentinel_kwargs=asked, **tls, **kwargs)
        client: aioredis.Redis = manager.master_for(sentinel.service, redis_class=aioredis.Redis)
        return client
    assert url is not None
    single: aioredis.Redis = aioredis.Redis.from_url(url, **kwargs)
    return single


def is_cluster(client: aioredis.Redis) -> bool:
    return isinstance(client, RedisCluster)


async def ping(client: aioredis.Redis) -> None:
    """Answered by every primary (a cluster is usable only when each of its slots has one)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
        await client.ping(target_nodes=RedisCluster.PRIMARIES)
        return
    # redis-py types ping for its sync and asyncio clients at once (Awaitable[bool] | bool)
    await cast("Awaitable[bool]", client.ping())


async def reset(client: aioredis.Redis) -> None:
    """Forget pooled connections (and a cluster's slot map): after an outage or a failover they
    point at a dead or demoted primary, and each would fail one call after sharing resumes."""
    if isinstance(client, RedisCluster):
        await client.aclose()  # the next command learns the slot map afresh from the seed nodes
        return
    await client.connection_pool.disconnect()


async def write_then_wait(
    client: aioredis.Redis, key: str, command: Sequence[Any], replicas: int, timeout_ms: int
) -> tuple[Any, int]:
    """``command`` (a write to ``key``) then ``WAIT replicas timeout_ms`` on the same connection to
    the primary that owns ``key`` (WAIT counts the replicas that have this connection's writes):
    (the command's reply, how many replicas confirmed)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
        node = client.get_node_from_key(key)
        connection = node.acquire_connection()
        try:
            return await _pipelined(connection, command, replicas, timeout_ms)
        except MovedError:
            await client.aclose()  # the slot moved (a failover): learn the new map on the next call
            raise
        finally:
            node.release(connection)
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        return await _pipelined(connection, command, replicas, timeout_ms)
    finally:
        await pool.release(connection)


async def _pipelined(connection: Any, command: Sequence[Any], replicas: int, timeout_ms: int) -> tuple[Any, int]:
    await connection.connect()
    try:
        await connection.send_packed_command(connection.pack_commands([command, ("WAIT", replicas, timeout_ms)]))
        reply = await connection.read_response()
        confirmed = await connection.read_response()
    except BaseException:
        # A reply may be left unread (an error reply raises before the WAIT's): never reuse it.
        await connection.disconnect()
        raise
    if isinstance(reply, ResponseError):
        raise reply
    return reply, int(confirmed)
