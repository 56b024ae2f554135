"""Resolve, check, and hand the connection exactly the addresses that were checked.

aiohttp connects to what its resolver returns, and httpcore to what its network backend is
told, so the check sits there: every new connection (pooled ones included) is checked, the
address connected to is the address checked (no second lookup for DNS rebinding to slip into),
and the URL's host name stays the Host header, the TLS SNI and the name the certificate is
verified against. Lookups run in the loop's thread pool; aiohttp caches answers for 10 s.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import httpcore
from aiohttp.abc import AbstractResolver, ResolveResult

from ._addresses import IPAddress, literal_address
from ._policy import EgressPolicy, EgressRefused

# host, port, family -> [(family, address text)]; injectable so tests can answer any name.
Lookup = Callable[[str, int, int], Awaitable[list[tuple[int, str]]]]


async def system_lookup(host: str, port: int, family: int) -> list[tuple[int, str]]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return list(dict.fromkeys((info[0], str(info[4][0])) for info in infos))


class CheckedResolver(AbstractResolver):
    """An aiohttp resolver that refuses a host when any of its addresses breaks the policy.
    ``exempt`` hosts (the operator's own forward proxy) are resolved without the check."""

    def __init__(self, policy: EgressPolicy, lookup: Lookup = system_lookup, exempt: Collection[str] = ()) -> None:
        self._policy = policy
        self._lookup = lookup
        self._exempt = frozenset(exempt)

    async def checked(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[tuple[int, IPAddress]]:
        literal = literal_address(host)
        if literal is not None:
            answers: list[tuple[int, IPAddress]] = [
                (socket.AF_INET6 if literal.version == 6 else socket.AF_INET, literal)
            ]
        else:
            found = await self._lookup(host.rstrip("."), port, family)
            answers = [(fam, addr) for fam, text in found if (addr := literal_address(text)) is not None]
        if host not in self._exempt:
            self._policy.check(host, [address for _, address in answers])
        return answers

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=str(address), port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST)
            for fam, address in await self.checked(host, port, family)
        ]

    async def close(self) -> None:
        pass


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """The same check for httpx's own transport (``CUSTOM_API_SIDECAR_HTTP_TRANSPORT=httpcore``)."""

    def __init__(self, resolver: CheckedResolver, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            answers = await self._resolver.checked(host, port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except OSError as exc:  # a name that does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for _, address in answers:  # the checked addresses, in order
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host}: no address to connect to")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise httpcore.ConnectError("unix sockets are not an upstream")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
