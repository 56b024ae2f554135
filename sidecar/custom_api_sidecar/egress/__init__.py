"""Egress security: where an API's calls may go, and how they get there.

Deny by default: an upstream must resolve only to public addresses (``_addresses`` says which,
in every spelling), unless its API opts in (``connection.private_network`` or
``connection.ip_allowlist``). The check runs where connections are made (``_resolver``), the
address connected to is the one checked, and a forward proxy (``_proxy``) is asked only for a
target that passed the same check. Per-API TLS (CA bundle, client certificates) is in ``_tls``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from ..config import ApiConfig
from ..secrets import SecretStore
from ._addresses import METADATA, embedded_ipv4, literal_address, non_public_reason
from ._policy import EgressPolicy, EgressRefused
from ._proxy import DIRECT, ProxySettings
from ._resolver import CheckedBackend, CheckedResolver, Lookup, system_lookup
from ._tls import TlsSource, shared_context


@dataclass
class Egress:
    """Everything one API's transport needs to connect the way its config says."""

    policy: EgressPolicy
    tls: TlsSource
    proxy: str | None = None  # connection.proxy: a URL, "direct", or None (the variables decide)
    proxies: ProxySettings = field(default_factory=ProxySettings)
    lookup: Lookup = system_lookup

    def proxy_for(self, url: str) -> str | None:
        return self.proxies.proxy_for(url, self.proxy)


def policy_for(api: ApiConfig) -> EgressPolicy:
    connection = api.connection
    return EgressPolicy(
        name=api.name,
        private_network=connection.private_network,
        ip_allowlist=tuple(ipaddress.ip_network(n) for n in connection.ip_allowlist),
    )


def build_egress(
    api: ApiConfig, store: SecretStore, environment: str, proxies: ProxySettings, lookup: Lookup = system_lookup
) -> Egress:
    """One API's egress; registers its TLS references with ``store`` (read before the first call)."""
    connection = api.connection
    return Egress(
        policy=policy_for(api),
        tls=TlsSource(connection.verify_ssl, connection.tls, store, environment),
        proxy=connection.proxy,
        proxies=proxies,
        lookup=lookup,
    )


def token_egress(api_egress: Egress) -> Egress:
    """An OAuth2 token endpoint: the API's policy and proxy, but the default trust store
    (the API's own CA bundle and client certificate are for the API, not its identity provider)."""
    return dataclasses.replace(api_egress, tls=TlsSource(True, None, api_egress.tls.store, ""))


__all__ = [
    "DIRECT",
    "METADATA",
    "CheckedBackend",
    "CheckedResolver",
    "Egress",
    "EgressPolicy",
    "EgressRefused",
    "Lookup",
    "ProxySettings",
    "TlsSource",
    "build_egress",
    "embedded_ipv4",
    "literal_address",
    "non_public_reason",
    "policy_for",
    "shared_context",
    "system_lookup",
    "token_egress",
]
