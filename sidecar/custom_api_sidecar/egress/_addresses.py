"""Which addresses are public, and why the others are not: the one classifier for all egress.

Every spelling of an address is normalized before it is judged: decimal, octal, hex and short
IPv4 (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, as ``inet_aton`` and so
``getaddrinfo`` read them), bracketed IPv6, zone ids, trailing dots, and IPv6 forms that carry an
IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo), which are judged by the IPv4 address inside.
"""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: where an SSRF steals credentials. Refused even for an API allowed
# to reach private addresses, unless its ip_allowlist names them explicitly.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}\Z")

METADATA = "cloud metadata"


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, in any spelling; None for a DNS name."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo client)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPAddress | str) -> str:
    """'' for a public unicast address, else what it is (``loopback``, ``private``, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = non_public_reason(inner)
        return f"{reason} (inside {ip})" if reason else ""
    for reason, flag in (
        (METADATA, ip in METADATA_ADDRESSES),
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("shared (carrier-grade NAT)", ip in SHARED_ADDRESS_SPACE),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unique-local" if ip.version == 6 else "private", ip.is_private),
    ):
        if flag:
            return reason
    return "" if ip.is_global else "non-public"
