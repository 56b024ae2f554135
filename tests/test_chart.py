"""The Helm chart, with the real Helm engine (helm-python-sdk: Helm v4's library) and no cluster:
lint, render several value sets, validate every manifest against Kubernetes 1.29 schemas
(kubernetes-validate, strict), scan with checkov (zero failed checks; each skip is written in
the chart with its reason), reject invalid values through values.schema.json, and run the built
image with exactly the rendered sidecar container's args, env and mounts."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import helm_python
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests._support.podman import IMAGE, ROOT, podman, run_args

CHART = ROOT / "helm" / "custom-api-sidecar"
KUBERNETES = "1.29.0"
AGENT = {"agent": {"image": {"repository": "registry.example.com/voice-agent", "tag": "2.4.1"}}}
VAULT = {
    "vault": {
        "enabled": True,
        "address": "https://vault.vault.svc:8200",
        "namespace": "team-a",
        "caSecret": {"name": "vault-ca", "key": "ca.crt"},
        "auth": {"role": "voice-agent", "mount": "kubernetes"},
        "tokenAudience": "vault",
    }
}
FLEET_SECRETS = {
    "passwordSecret": {"name": "redis-auth", "key": "password"},
    "tokenKeySecret": {"name": "fleet-keys", "key": "token-key"},
    "jobKeySecret": {"name": "fleet-keys", "key": "job-key"},
}
FLEET_CACHE = {"cache": True, "cacheKeySecret": {"name": "fleet-keys", "key": "cache-key"}}
REDIS_CLUSTER = {
    "enabled": True,
    "topology": "cluster",
    "nodes": ["redis-0.redis:6379", "redis-1.redis:6379", "redis-2.redis:6379"],
    "username": "fleet",
    "tls": {
        "enabled": True,
        "secret": {"name": "redis-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"},
    },
    "jobShards": 6,
    **FLEET_SECRETS,
}
REDIS_SENTINEL = {
    "enabled": True,
    "topology": "sentinel",
    "nodes": ["sentinel-0.sentinel:26379", "[fd00::5]:26379"],
    "sentinel": {"service": "mymaster", "passwordSecret": {"name": "redis-sentinel", "key": "password"}},
    "jobsMinReplicas": 2,
    **FLEET_SECRETS,
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "native": AGENT,
    "redis-cluster": {**AGENT, "redis": REDIS_CLUSTER},
    "redis-sentinel": {
        **AGENT,
        "redis": REDIS_SENTINEL,
        "networkPolicy": {"enabled": True, "redisCIDRs": ["10.40.0.0/16"]},
    },
    "classic": {**AGENT, "sidecar": {"native": False}},
    "existing-configmap": {**AGENT, "apis": {"existingConfigMap": "crm-apis", "key": "crm.yaml"}},
    "vault": {**AGENT, **VAULT},
    "network-policy": {
        **AGENT,
        "agent": {**AGENT["agent"], "port": 8080},
        "networkPolicy": {
            "enabled": True,
            "apiCIDRs": ["203.0.113.0/24"],
            "vaultCIDRs": ["10.20.0.0/16"],
            "otlpCIDRs": ["10.30.0.0/16"],
            "redisCIDRs": ["10.40.0.0/16"],
        },
    },
    "everything": {
        **AGENT,
        **VAULT,
        "sidecar": {
            "adminPort": 9464,
            "adminToken": "env://ADMIN_TOKEN",
            "jobs": {"sizeLimit": "1Gi"},
            "maxInFlight": 256,
            "agentTestConnection": False,
            "policy": {
                "egress": ["private_network", "allow_http"],
                "vaultPrefixes": ["kv/{environment}/voice"],
                "envNames": ["CRM_*"],
                "proxies": ["http://proxy.internal:3128"],
                "refuseExtraArguments": True,
            },
            "mcp": {"port": 8765, "apis": ["crm", "billing"], "exclude": ["crm.delete_*"]},
            "envFromSecrets": [{"name": "crm-credentials"}],
            "secretFiles": [{"name": "crm-client-cert", "mountPath": "/etc/custom-api-sidecar/secrets/crm"}],
            "image": {"repository": "registry.example.com/custom-api-sidecar", "digest": "sha256:" + "a" * 64},
        },
        "apis": {"openapiSpecs": {"existingConfigMap": "crm-specs"}},
        "tracing": {"otlpEndpoint": "http://jaeger-collector.observability.svc:4317"},
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    loaded = helm_python.Chart.load(CHART)
    yield loaded
    loaded.close()


def render(chart: helm_python.Chart, values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Template path -> the manifests it rendered (YAML files only; NOTES.txt is text)."""
    out = chart.render(values, name="voice", namespace="agents")
    return {
        path.split("/templates/", 1)[1]: [doc for doc in yaml.safe_load_all(text) if doc]
        for path, text in out.items()
        if path.endswith(".yaml")
    }


def pod_spec(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    (deployment,) = rendered["deployment.yaml"]
    return deployment["spec"]["template"]["spec"]


def sidecar_container(spec: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == "custom-api-sidecar"]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_lint_is_clean():
    report = helm_python.lint(CHART, AGENT, strict=True, kube_version=f"v{KUBERNETES}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_manifest_is_valid_kubernetes(chart, name):
    rendered = render(chart, VALUE_SETS[name])
    for path, docs in rendered.items():
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f"{name}: {path}: {exc}") from None


def test_native_sidecar_and_what_the_agent_gets(chart):
    spec = pod_spec(render(chart, VALUE_SETS["native"]))
    sidecar = sidecar_container(spec)
    assert sidecar in spec["initContainers"] and sidecar["restartPolicy"] == "Always"
    (agent,) = spec["containers"]
    assert agent["image"] == "registry.example.com/voice-agent:2.4.1"
    assert env_of(agent)["CUSTOM_API_SIDECAR"] == "unix:///var/run/custom-api-sidecar/sidecar.sock"
    shared = {m["name"] for m in agent["volumeMounts"]} & {m["name"] for m in sidecar["volumeMounts"]}
    assert shared == {"custom-api-sidecar-socket"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes["custom-api-sidecar-socket"]
    # probes on the health-only listener, which is the only port exposed
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert sidecar[probe]["grpc"] == {"port": 8086}
    assert env_of(sidecar)["CUSTOM_API_SIDECAR_HEALTH_LISTEN"] == "0.0.0.0:8086"
    # the config is a mounted directory (no subPath), so a ConfigMap update reaches the pod
    config_mount = next(m for m in sidecar["volumeMounts"] if m["name"] == "custom-api-sidecar-config")
    assert "subPath" not in config_mount
    assert env_of(sidecar)["CUSTOM_API_SIDECAR_CONFIG"] == config_mount["mountPath"] + "/apis.yaml"
    # hardening
    assert (
        spec["securityContext"]["runAsNonRoot"]
        and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    assert spec["automountServiceAccountToken"] is False
    for container in (agent, sidecar):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"] and container["resources"]["requests"]
    # Kubernetes attributes on every span
    assert env_of(sidecar)["OTEL_RESOURCE_ATTRIBUTES"] == "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
    assert env_of(sidecar)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_jobs_live_on_a_volume_of_their_own(chart):
    """Only the sidecar mounts the jobs database: the agent can neither read nor edit jobs, and a
    large response cannot fill the socket's small in-memory volume."""
    for name, size in (("native", "256Mi"), ("classic", "256Mi"), ("everything", "1Gi")):
        spec = pod_spec(render(chart, VALUE_SETS[name]))
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["custom-api-sidecar-jobs"] == {
            "name": "custom-api-sidecar-jobs",
            "emptyDir": {"sizeLimit": size},
        }
        sidecar = sidecar_container(spec)
        (jobs_mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == "custom-api-sidecar-jobs"]
        env = env_of(sidecar)
        assert env["CUSTOM_API_SIDECAR_JOBS_DB"] == jobs_mount["mountPath"] + "/jobs.sqlite3"
        assert env["CUSTOM_API_SIDECAR_JOBS_MAX_SIZE"] == size  # the sidecar stays within the volume
        (agent,) = [c for c in spec["containers"] if c["name"] == "agent"]
        for mount in agent["volumeMounts"]:
            assert mount["name"] != "custom-api-sidecar-jobs", name
            assert not env["CUSTOM_API_SIDECAR_JOBS_DB"].startswith(mount["mountPath"].rstrip("/") + "/"), name
        socket_mount = next(m for m in sidecar["volumeMounts"] if m["name"] == "custom-api-sidecar-socket")
        assert not env["CUSTOM_API_SIDECAR_JOBS_DB"].startswith(socket_mount["mountPath"] + "/")
    for smallest_and_others in ("16Mi", "99Mi", "100Mi", "1Gi", "20Gi"):
        chart.validate_schema({**AGENT, "sidecar": {"jobs": {"sizeLimit": smallest_and_others}}})


def test_classic_sidecar(chart):
    spec = pod_spec(render(chart, VALUE_SETS["classic"]))
    assert "initContainers" not in spec
    assert [c["name"] for c in spec["containers"]] == ["agent", "custom-api-sidecar"]
    assert "restartPolicy" not in sidecar_container(spec)


def test_apis_from_values_or_an_existing_configmap(chart):
    own = render(chart, VALUE_SETS["native"])
    (config_map,) = own["configmap.yaml"]
    assert yaml.safe_load(config_map["data"]["apis.yaml"])["apis"][0]["name"] == "example"
    existing = render(chart, VALUE_SETS["existing-configmap"])
    assert existing["configmap.yaml"] == []
    spec = pod_spec(existing)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["custom-api-sidecar-config"]["configMap"]["name"] == "crm-apis"
    assert env_of(sidecar_container(spec))["CUSTOM_API_SIDECAR_CONFIG"].endswith("/crm.yaml")


def test_vault_kubernetes_auth(chart):
    spec = pod_spec(render(chart, VALUE_SETS["vault"]))
    sidecar = sidecar_container(spec)
    args = sidecar["args"]
    assert args[args.index("--vault-auth-method") + 1] == "kubernetes"
    assert args[args.index("--vault-role") + 1] == "voice-agent"
    assert args[args.index("--vault-jwt") + 1] == "file:///var/run/secrets/vault/token"
    env = env_of(sidecar)
    assert env["VAULT_ADDR"] == "https://vault.vault.svc:8200" and env["VAULT_NAMESPACE"] == "team-a"
    assert env["VAULT_CACERT"] == "/etc/custom-api-sidecar/vault-ca/ca.crt"
    volumes = {v["name"]: v for v in spec["volumes"]}
    (source,) = volumes["custom-api-sidecar-vault-token"]["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "vault"
    assert volumes["custom-api-sidecar-vault-ca"]["secret"]["secretName"] == "vault-ca"
    assert spec["serviceAccountName"] == "voice-custom-api-sidecar"
    off = sidecar_container(pod_spec(render(chart, VALUE_SETS["native"])))
    assert "--vault-auth-method" not in off["args"] and "VAULT_ADDR" not in env_of(off)


def test_network_policy(chart):
    (policy,) = render(chart, VALUE_SETS["network-policy"])["networkpolicy.yaml"]
    egress = policy["spec"]["egress"]
    assert egress[0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert [rule["to"][0]["ipBlock"]["cidr"] for rule in egress[1:]] == [
        "10.20.0.0/16",
        "10.30.0.0/16",
        "10.40.0.0/16",
        "203.0.113.0/24",
    ]
    assert egress[3]["ports"] == [{"port": 6379, "protocol": "TCP"}]
    assert {p["port"] for p in policy["spec"]["ingress"][0]["ports"]} == {8086, 8080}
    assert render(chart, VALUE_SETS["native"])["networkpolicy.yaml"] == []


def test_secrets_specs_tracing_and_digest(chart):
    spec = pod_spec(render(chart, VALUE_SETS["everything"]))
    sidecar = sidecar_container(spec)
    assert sidecar["image"] == "registry.example.com/custom-api-sidecar@sha256:" + "a" * 64
    assert sidecar["envFrom"] == [{"secretRef": {"name": "crm-credentials"}}]
    mounts = {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}
    assert mounts["/etc/custom-api-sidecar/secrets/crm"] == "custom-api-sidecar-secret-0"
    assert mounts["/etc/custom-api-sidecar/specs"] == "custom-api-sidecar-specs"
    assert env_of(sidecar)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger-collector.observability.svc:4317"
    assert sidecar["args"][sidecar["args"].index("--admin-listen") + 1] == "127.0.0.1:9464"
    env = env_of(sidecar)
    assert env["CUSTOM_API_SIDECAR_MCP_LISTEN"] == "127.0.0.1:8765"  # loopback: the pod's own containers only
    assert env["CUSTOM_API_SIDECAR_MCP_APIS"] == "crm,billing"
    assert env["CUSTOM_API_SIDECAR_MCP_EXCLUDE"] == "crm.delete_*"
    assert "CUSTOM_API_SIDECAR_MCP_INCLUDE" not in env
    assert "CUSTOM_API_SIDECAR_MCP_LISTEN" not in env_of(
        sidecar_container(pod_spec(render(chart, AGENT)))
    )  # off by default


def test_the_operator_policy_comes_from_values(chart):
    """The policy the sidecar enforces on the API definitions is the chart's, as variables:
    secure by default, and secret files readable exactly where they are mounted."""
    default = env_of(sidecar_container(pod_spec(render(chart, AGENT))))
    assert default["CUSTOM_API_SIDECAR_POLICY_EGRESS"] == ""  # no private networks, plain http or unverified TLS
    assert default["CUSTOM_API_SIDECAR_POLICY_SECRET_SCHEMES"] == "vault,env,file"
    assert default["CUSTOM_API_SIDECAR_POLICY_FILE_DIRS"] == "/etc/custom-api-sidecar/secrets"
    assert default["CUSTOM_API_SIDECAR_MAX_IN_FLIGHT"] == "512"
    for unset in ("VAULT_PREFIXES", "ENV_NAMES", "SPEC_DIRS", "PROXIES", "EXTRA_ARGUMENTS"):
        assert f"CUSTOM_API_SIDECAR_POLICY_{unset}" not in default
    env = env_of(sidecar_container(pod_spec(render(chart, VALUE_SETS["everything"]))))
    assert env["CUSTOM_API_SIDECAR_POLICY_EGRESS"] == "private_network,allow_http"
    assert env["CUSTOM_API_SIDECAR_POLICY_VAULT_PREFIXES"] == "kv/{environment}/voice"
    assert env["CUSTOM_API_SIDECAR_POLICY_ENV_NAMES"] == "CRM_*"
    assert (
        env["CUSTOM_API_SIDECAR_POLICY_FILE_DIRS"]
        == "/etc/custom-api-sidecar/secrets,/etc/custom-api-sidecar/secrets/crm"
    )
    assert env["CUSTOM_API_SIDECAR_POLICY_SPEC_DIRS"] == "/etc/custom-api-sidecar/specs"
    assert env["CUSTOM_API_SIDECAR_POLICY_PROXIES"] == "http://proxy.internal:3128"
    assert env["CUSTOM_API_SIDECAR_POLICY_EXTRA_ARGUMENTS"] == "refuse"
    assert env["CUSTOM_API_SIDECAR_MAX_IN_FLIGHT"] == "256"


def test_the_agents_connection_tests_are_on_unless_turned_off(chart):
    """``sidecar.agentTestConnection`` (a boolean) becomes --agent-test-connection's variable."""
    default = env_of(sidecar_container(pod_spec(render(chart, AGENT))))
    assert default["CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION"] == "on"
    env = env_of(sidecar_container(pod_spec(render(chart, VALUE_SETS["everything"]))))
    assert env["CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION"] == "off"


def test_the_admin_listener_and_its_token_reference(chart):
    args = sidecar_container(pod_spec(render(chart, VALUE_SETS["everything"])))["args"]
    assert args[args.index("--admin-listen") + 1] == "127.0.0.1:9464"
    assert args[args.index("--admin-token") + 1] == "env://ADMIN_TOKEN"  # a reference, resolved in the pod
    without = sidecar_container(pod_spec(render(chart, {**AGENT, "sidecar": {"adminPort": 9464}})))["args"]
    assert "--admin-listen" in without and "--admin-token" not in without
    off = sidecar_container(pod_spec(render(chart, {**AGENT, "sidecar": {"adminToken": "env://ADMIN_TOKEN"}})))
    assert "--admin-listen" not in off["args"] and "--admin-token" not in off["args"]  # no listener, no token


def fleet_section(rendered: dict[str, list[dict[str, Any]]]) -> Any:
    """The redis: settings the sidecar loads from the rendered ConfigMap (as it would in the pod)."""
    from custom_api_sidecar import parse_config

    (configmap,) = rendered["configmap.yaml"]
    return parse_config(configmap["data"]["apis.yaml"], "apis.yaml").redis


def test_fleet_mode_on_a_cluster_with_secrets_mounted_from_secrets(chart):
    rendered = render(chart, VALUE_SETS["redis-cluster"])
    settings = fleet_section(rendered)
    assert settings.topology == "cluster" and settings.cluster.nodes[0] == ("redis-0.redis", 6379)
    assert settings.username == "fleet" and settings.job_shards == 6 and settings.jobs_min_replicas == 1
    assert settings.password == "file:///etc/custom-api-sidecar/redis/password"  # a reference, never the value
    assert settings.token_key == "file:///etc/custom-api-sidecar/redis/token-key"
    assert settings.tls.client_key == "file:///etc/custom-api-sidecar/redis/tls/tls.key"
    spec = pod_spec(rendered)
    volumes = {v["name"]: v for v in spec["volumes"]}
    sources = volumes["custom-api-sidecar-redis"]["projected"]["sources"]
    paths = {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in sources
        for item in source["secret"]["items"]
    }
    assert paths == {
        "password": ("redis-auth", "password"),
        "token-key": ("fleet-keys", "token-key"),
        "job-key": ("fleet-keys", "job-key"),
        "tls/ca.crt": ("redis-tls", "ca.crt"),
        "tls/tls.crt": ("redis-tls", "tls.crt"),
        "tls/tls.key": ("redis-tls", "tls.key"),
    }
    assert volumes["custom-api-sidecar-redis"]["projected"]["defaultMode"] == 0o440
    mounts = {m["name"]: m for m in sidecar_container(spec)["volumeMounts"]}
    assert mounts["custom-api-sidecar-redis"] == {
        "name": "custom-api-sidecar-redis",
        "mountPath": "/etc/custom-api-sidecar/redis",
        "readOnly": True,
    }
    agent = next(c for c in spec["containers"] if c["name"] == "agent")
    assert all(m["name"] != "custom-api-sidecar-redis" for m in agent.get("volumeMounts", []))  # the sidecar's only


def test_cached_answers_shared_by_the_fleet_take_their_key_from_a_secret(chart):
    rendered = render(chart, {**AGENT, "redis": {**REDIS_CLUSTER, **FLEET_CACHE}})
    settings = fleet_section(rendered)
    assert settings.cache is True
    assert settings.cache_key == "file:///etc/custom-api-sidecar/redis/cache-key"  # a reference, never the value
    volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
    items = [
        item
        for source in volumes["custom-api-sidecar-redis"]["projected"]["sources"]
        for item in source["secret"]["items"]
    ]
    assert {"key": "cache-key", "path": "cache-key"} in items
    assert fleet_section(render(chart, VALUE_SETS["redis-cluster"])).cache is False  # off unless asked for


def test_fleet_mode_behind_sentinel_and_on_one_redis(chart):
    rendered = render(chart, VALUE_SETS["redis-sentinel"])
    settings = fleet_section(rendered)
    assert settings.topology == "sentinel" and settings.sentinel.service == "mymaster"
    assert settings.sentinel.nodes == (("sentinel-0.sentinel", 26379), ("fd00::5", 26379))
    assert settings.sentinel.password == "file:///etc/custom-api-sidecar/redis/sentinel-password"
    assert settings.jobs_min_replicas == 2 and settings.tls is None
    (policy,) = rendered["networkpolicy.yaml"]
    assert policy["spec"]["egress"][1]["ports"] == [
        {"port": 6379, "protocol": "TCP"},
        {"port": 26379, "protocol": "TCP"},
    ]
    single = {"enabled": True, "url": "rediss://redis.redis.svc:6379/0", "timeoutMs": 80, **FLEET_SECRETS}
    settings = fleet_section(render(chart, {**AGENT, "redis": single}))
    assert settings.topology == "single" and settings.url == "rediss://redis.redis.svc:6379/0"
    assert settings.timeout_ms == 80 and settings.jobs_min_replicas == 0
    off = render(chart, AGENT)
    assert fleet_section(off) is None
    assert "custom-api-sidecar-redis" not in {v["name"] for v in pod_spec(off)["volumes"]}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"enabled": True, "topology": "cluster"}, "redis.nodes is required when redis.topology is cluster"),
        (
            {"enabled": True, "topology": "sentinel", "nodes": []},
            "redis.nodes is required when redis.topology is sentinel",
        ),
        ({"enabled": True}, "redis.url is required when redis.topology is single"),
    ],
)
def test_fleet_mode_without_its_address_is_refused_at_render(chart, values, message):
    with pytest.raises(helm_python.HelmRenderError, match=message):
        chart.render({**AGENT, "redis": values}, name="voice")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**AGENT, "redis": {"topology": "replicated"}}, "at '/redis/topology'"),
        ({**AGENT, "redis": {"url": "redis://:s3cret@redis:6379"}}, "at '/redis/url'"),  # no password in the URL
        ({**AGENT, "redis": {"nodes": ["redis-0"]}}, "at '/redis/nodes/0'"),
        ({**AGENT, "redis": {"nodes": ["redis-0:6379,redis-1:6379"]}}, "at '/redis/nodes/0'"),
        ({**AGENT, "redis": {"password": "s3cret"}}, "password"),  # only a Secret reference exists
        ({**AGENT, "redis": {"jobShards": 0}}, "at '/redis/jobShards'"),
        ({**AGENT, "redis": {"jobsMinReplicas": "one"}}, "at '/redis/jobsMinReplicas'"),
        ({**AGENT, "redis": {"sentinel": {"service": "my master"}}}, "at '/redis/sentinel/service'"),
        ({**AGENT, "redis": {"onUnavailable": "ignore"}}, "at '/redis/onUnavailable'"),
        ({}, "at '/agent/image/repository': minLength: got 0, want 1"),
        ({**AGENT, "sidecar": {"policy": {"egress": ["everything"]}}}, "at '/sidecar/policy/egress/0'"),
        ({**AGENT, "sidecar": {"policy": {"fileDirs": ["secrets"]}}}, "at '/sidecar/policy/fileDirs/0'"),
        ({**AGENT, "sidecar": {"policy": {"envNames": ["A,VAULT_TOKEN"]}}}, "at '/sidecar/policy/envNames/0'"),
        ({**AGENT, "sidecar": {"policy": {"secretSchemes": ["http"]}}}, "at '/sidecar/policy/secretSchemes/0'"),
        ({**AGENT, "sidecar": {"maxInFlight": 0}}, "at '/sidecar/maxInFlight'"),
        ({**AGENT, "sidecar": {"agentTestConnection": "off"}}, "at '/sidecar/agentTestConnection'"),
        ({**AGENT, "sidecar": {"environment": "prod"}}, "at '/sidecar/environment': value must be one of"),
        ({**AGENT, "sidecar": {"healthPort": 70000}}, "at '/sidecar/healthPort'"),
        ({**AGENT, "networkPolicy": {"apiCIDRs": ["everywhere"]}}, "at '/networkPolicy/apiCIDRs/0'"),
        ({**AGENT, "vault": {"address": "vault:8200"}}, "at '/vault/address'"),
        ({**AGENT, "sidecar": {"colour": "blue"}}, "colour"),
        ({**AGENT, "sidecar": {"mcp": {"apis": ["crm,billing"]}}}, "at '/sidecar/mcp/apis/0'"),  # one name per item
        ({**AGENT, "sidecar": {"adminToken": "s3cret-token"}}, "at '/sidecar/adminToken'"),  # a literal, not a ref
        ({**AGENT, "sidecar": {"jobs": {"sizeLimit": "8Mi"}}}, "at '/sidecar/jobs/sizeLimit'"),  # under 16Mi
        ({**AGENT, "sidecar": {"jobs": {"sizeLimit": "256MB"}}}, "at '/sidecar/jobs/sizeLimit'"),
        ({**AGENT, "sidecar": {"jobs": {"sizeLimit": "1.5Gi"}}}, "at '/sidecar/jobs/sizeLimit'"),
        ({**AGENT, "sidecar": {"jobs": {"sizeLimit": "256Mi}, medium: Memory"}}}, "at '/sidecar/jobs/sizeLimit'"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(chart, values, message):
    with pytest.raises(helm_python.HelmValuesError) as caught:
        chart.validate_schema(values)
    assert message in str(caught.value)


def test_vault_without_a_role_is_refused_at_render(chart):
    with pytest.raises(helm_python.HelmRenderError, match=r"vault\.auth\.role is required when vault\.enabled"):
        chart.render({**AGENT, "vault": {"enabled": True, "address": "https://v:8200"}}, name="voice")


def test_checkov_finds_nothing(chart, tmp_path):
    checkov = ROOT / ".venv-tools" / "bin" / "checkov"
    assert checkov.exists(), "checkov is not installed (tests/run.sh installs it into .venv-tools)"
    for name, values in VALUE_SETS.items():
        folder = tmp_path / name
        folder.mkdir()
        for path, docs in render(chart, values).items():
            if docs:
                (folder / path.replace("/", "_")).write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(
        [str(checkov), "-d", str(tmp_path), "--framework", "kubernetes", "--output", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    failed = report["results"]["failed_checks"] if isinstance(report, dict) else report[0]["results"]["failed_checks"]
    assert summary["failed"] == 0, [(f["check_id"], f["resource"]) for f in failed]
    assert summary["passed"] > 100


# --- the chart and the image agree ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def mcp_tools(url: str) -> list[str]:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return [tool.name for tool in (await session.list_tools()).tools]


def test_the_image_runs_with_the_rendered_container(chart, image, tmp_path):
    """The rendered sidecar container's args, env and mounts, given to the built image as they
    are (mounts become host folders; fieldRef env vars get literal values, as the kubelet would)."""
    port = free_port()
    mcp_port = free_port()
    rendered = render(chart, {**AGENT, "sidecar": {"healthPort": port, "mcp": {"port": mcp_port}}})
    container = sidecar_container(pod_spec(rendered))
    (config_map,) = rendered["configmap.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    host: dict[str, pathlib.Path] = {}
    for name in mounts:
        host[name] = tmp_path / name
        host[name].mkdir()
    for key, text in config_map["data"].items():
        (host["custom-api-sidecar-config"] / key).write_text(text)
    for folder in host.values():  # what fsGroup: 10001 does for the pod's volumes
        os.chown(folder, 10001, 10001)
    env: list[str] = []
    for item in container["env"]:
        value = item.get("value")
        if value is None:  # fieldRef: what the kubelet would put there
            value = {"metadata.name": "voice-pod-1", "metadata.namespace": "agents"}[
                item["valueFrom"]["fieldRef"]["fieldPath"]
            ]
        env += ["-e", f"{item['name']}={value}"]
    volumes = [arg for name, path in mounts.items() for arg in ("-v", f"{host[name]}:{path}")]
    assert container["securityContext"]["readOnlyRootFilesystem"]
    name = f"cas-chart-{uuid.uuid4().hex[:8]}"
    user = f"{container['securityContext']['runAsUser']}:{container['securityContext']['runAsGroup']}"
    podman(*run_args("-d", "--name", name, "--read-only", "--user", user, *env, *volumes, IMAGE, *container["args"]))
    try:
        socket_path = host["custom-api-sidecar-socket"] / "sidecar.sock"
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            if time.monotonic() > deadline:
                raise AssertionError(podman("logs", name, check=False).stderr)
            time.sleep(0.2)
        for target in (f"unix://{socket_path}", f"127.0.0.1:{port}"):  # the socket, and the probes' port
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, target
        assert asyncio.run(mcp_tools(f"http://127.0.0.1:{mcp_port}/mcp")) == [
            "example__ping",
            "get_background_job",
        ]  # the chart's example API
        podman("stop", "--time", "15", name)
        assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "-f", name, check=False)
    assert shutil.which("podman")
