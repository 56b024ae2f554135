"""The authenticators as one Sidecar service: started after the secret store, so OAuth2
tokens are fetched with client credentials already in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ._credentials import Authenticator


class Authentications:
    def __init__(self, authenticators: Mapping[str, Authenticator]) -> None:
        self.by_api = dict(authenticators)

    async def start(self) -> None:
        # Token endpoints are independent: warm them in parallel. Failures are logged, not raised.
        await asyncio.gather(*(auth.start() for auth in self.by_api.values()))

    async def aclose(self) -> None:
        await asyncio.gather(*(auth.aclose() for auth in self.by_api.values()))
