"""The ``redis:`` section's topologies (url, cluster, sentinel): what each loads as, and every bad
combination a load error naming the field (pure parsing: no Redis needed)."""

from __future__ import annotations

import pytest

from custom_api_sidecar import parse_config
from custom_api_sidecar.config import ConfigError, RedisCluster, RedisSentinel

API = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints: [{name: get, method: GET, path: /items}]
"""


def load(redis: str):
    """``redis`` (a YAML flow mapping) with the job key every fleet needs added."""
    redis = redis.replace("{", '{job_key: "env://FLEET_JOB_KEY", ', 1) if redis != "{}" else redis
    return parse_config(f"redis: {redis}\n{API}", "apis.yaml").redis


def test_a_cluster_loads_with_its_seed_nodes_and_a_replica_required_for_jobs():
    settings = load('{cluster: {nodes: ["10.0.0.1:7000", "redis-1.redis:7001", "[::1]:7002"]}, job_shards: 8}')
    assert settings is not None and settings.topology == "cluster"
    assert settings.cluster == RedisCluster((("10.0.0.1", 7000), ("redis-1.redis", 7001), ("::1", 7002)))
    assert settings.job_shards == 8 and settings.jobs_min_replicas == 1 and settings.url == ""


def test_a_sentinel_loads_with_its_service_and_own_credentials():
    settings = load(
        '{sentinel: {nodes: ["s1:26379", "s2:26379"], service: mymaster, username: watcher, '
        'password: "env://SENTINEL_PASSWORD"}, username: app, password: "env://REDIS_PASSWORD", '
        "jobs_min_replicas: 2}"
    )
    assert settings is not None and settings.topology == "sentinel"
    assert settings.sentinel == RedisSentinel(
        (("s1", 26379), ("s2", 26379)), "mymaster", "watcher", "env://SENTINEL_PASSWORD"
    )
    assert settings.username == "app" and settings.jobs_min_replicas == 2


def test_a_single_redis_asks_no_replica_by_default():
    settings = load('{url: "redis://127.0.0.1:6379/0"}')
    assert settings is not None and settings.topology == "single"
    assert settings.jobs_min_replicas == 0 and settings.job_shards == 1


@pytest.mark.parametrize(
    ("redis", "field", "says"),
    [
        ('{url: "redis://h:6379", cluster: {nodes: ["h:7000"]}}', "redis", "not url and cluster"),
        ('{cluster: {nodes: ["h:7000"]}, sentinel: {nodes: ["h:1"], service: m}}', "redis", "not cluster and sentinel"),
        ("{}", "redis.url", "or redis.cluster or redis.sentinel"),
        ('{url: "redis+cluster://h1:7000,h2:7001"}', "redis.url", "give redis.cluster.nodes"),
        ("{cluster: {nodes: []}}", "redis.cluster.nodes", "a list of 1 to 64"),
        ("{cluster: {nodes: h:7000}}", "redis.cluster.nodes", "a list of 1 to 64"),
        ('{cluster: {nodes: ["h:7000", "h"]}}', "redis.cluster.nodes[1]", "must be host:port"),
        ('{cluster: {nodes: ["h:0"]}}', "redis.cluster.nodes[0]", "must be host:port"),
        ('{cluster: {nodes: ["h:65536"]}}', "redis.cluster.nodes[0]", "must be host:port"),
        ('{cluster: {nodes: ["user:pw@h:7000"]}}', "redis.cluster.nodes[0]", "must be host:port"),
        ('{cluster: {nodes: ["' + "h" * 5000 + ':1"]}}', "redis.cluster.nodes[0]", "must be host:port"),
        ('{cluster: {nodes: ["h:7000"], password: x}}', "redis.cluster.password", "unknown field"),
        ('{sentinel: {nodes: ["h:26379"]}}', "redis.sentinel.service", "is required"),
        ('{sentinel: {nodes: ["h:26379"], service: "my master"}}', "redis.sentinel.service", "is required"),
        ('{sentinel: {nodes: ["h:26379"], service: m, password: literal}}', "redis.sentinel.password", "not a literal"),
        ('{sentinel: {nodes: ["h:26379"], service: m, username: ""}}', "redis.sentinel.username", "non-empty"),
        ('{cluster: {nodes: ["h:7000"]}, job_shards: 0}', "redis.job_shards", "from 1 to 64"),
        ('{cluster: {nodes: ["h:7000"]}, job_shards: 65}', "redis.job_shards", "from 1 to 64"),
        ('{cluster: {nodes: ["h:7000"]}, job_shards: 2.5}', "redis.job_shards", "an integer"),
        ('{cluster: {nodes: ["h:7000"]}, jobs_min_replicas: -1}', "redis.jobs_min_replicas", "from 0 to 16"),
        ('{cluster: {nodes: ["h:7000"]}, jobs_min_replicas: true}', "redis.jobs_min_replicas", "an integer"),
    ],
)
def test_bad_topologies_are_load_errors_naming_the_field(redis: str, field: str, says: str):
    with pytest.raises(ConfigError) as caught:
        load(redis)
    text = str(caught.value)
    assert f"{field}:" in text or f"{field} " in text, text
    assert says in text, text
    assert "h" * 400 not in text  # an unbounded input is never echoed whole
