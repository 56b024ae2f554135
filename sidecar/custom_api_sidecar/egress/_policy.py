"""One API's egress policy: which resolved addresses it may connect to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ._addresses import METADATA, IPAddress, non_public_reason

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(OSError):
    """A connection the policy forbids; raised before anything is sent. The message names
    the host, the address and the reason, and how to allow it on purpose."""


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses only, unless the API opts in: ``private_network`` allows any non-public
    address but cloud metadata; ``ip_allowlist`` allows exactly the networks it lists (and
    implies the opt-in for them)."""

    name: str = ""  # the API, for messages
    private_network: bool = False
    ip_allowlist: tuple[IPNetwork, ...] = ()

    def refusal(self, host: str, address: IPAddress) -> EgressRefused | None:
        reason = non_public_reason(address)
        if not reason:
            return None
        if any(address in network for network in self.ip_allowlist):
            return None
        if self.private_network and reason != METADATA and not self.ip_allowlist:
            return None
        if self.ip_allowlist:
            how = "it is outside connection.ip_allowlist"
        elif reason == METADATA:
            how = "never allowed unless connection.ip_allowlist lists it"
        else:
            how = "allow private addresses on purpose with connection.private_network: true or connection.ip_allowlist"
        shown = host if host == str(address) else f"{host} resolves to {address}"
        return EgressRefused(f"egress denied: {shown}, a {reason} address ({how})")

    def check(self, host: str, addresses: list[IPAddress]) -> None:
        """Raise for the first refused address: one bad answer refuses the host (DNS tricks
        mix a public and a private answer)."""
        if not addresses:
            raise EgressRefused(f"egress denied: {host} resolves to no address")
        for address in addresses:
            refused = self.refusal(host, address)
            if refused is not None:
                raise refused
