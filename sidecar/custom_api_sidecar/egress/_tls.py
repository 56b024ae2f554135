"""TLS settings per API: the shared default context, or one of its own for a CA bundle or mTLS.

Most APIs share one context per ``verify_ssl`` value (loading the CA bundle per API cost about
1 MB each). An API with ``connection.tls`` gets its own: ``ca_bundle`` (a file path or a secret
reference holding PEM) replaces the default trust store for that API, and ``client_cert`` /
``client_key`` (secret references holding PEM) present a client certificate. The references are
read and refreshed by the secret store like every other secret; the context is rebuilt when a
rotated value arrives, and new connections use it.

Python's ``ssl`` loads a certificate chain only from files, so the PEM is written to a private
(0700) temporary directory for the moment of loading and deleted at once.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile

import httpx

from ..config import TlsConfig
from ..secrets import SecretRef, SecretStore, is_reference, parse_reference


@functools.cache
def shared_context(verify: bool) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class TlsSource:
    """``context()``: the SSL context new connections of one API use (memory only; no I/O
    on the call path except the rare rebuild after a rotation)."""

    def __init__(self, verify: bool, config: TlsConfig | None, store: SecretStore, environment: str) -> None:
        self._verify = verify
        self._config = config
        self.store = store
        self._refs: dict[str, SecretRef] = {}
        if config is not None:
            for name in ("client_cert", "client_key", "ca_bundle"):
                text = getattr(config, name)
                if text and is_reference(text):
                    self._refs[name] = ref = parse_reference(text).for_environment(environment)
                    store.register(ref)
        self._built: ssl.SSLContext | None = None
        self._versions: tuple[int, ...] = ()

    @property
    def custom(self) -> bool:
        return self._config is not None

    def context(self) -> ssl.SSLContext:
        if self._config is None:
            return shared_context(self._verify)
        versions = tuple(self.store.version(ref) for ref in self._refs.values())
        if self._built is None or versions != self._versions:
            self._built, self._versions = self._build(), versions
        return self._built

    def _value(self, name: str) -> str | None:
        ref = self._refs.get(name)
        return self.store.get(ref) if ref is not None else None

    def _build(self) -> ssl.SSLContext:
        assert self._config is not None
        config = self._config
        if config.ca_bundle and "ca_bundle" not in self._refs:
            context = ssl.create_default_context(cafile=config.ca_bundle)
        elif config.ca_bundle:
            context = ssl.create_default_context(cadata=self._value("ca_bundle"))
        else:
            context = httpx.create_ssl_context(verify=self._verify, trust_env=False)
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert, key = self._value("client_cert"), self._value("client_key")
        if cert is not None and key is not None:
            _load_chain(context, cert, key)
        return context


def _load_chain(context: ssl.SSLContext, cert: str, key: str) -> None:
    with tempfile.TemporaryDirectory(prefix="custom-api-mtls-") as private:  # created 0700
        cert_path, key_path = os.path.join(private, "cert.pem"), os.path.join(private, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:  # the message names the problem, never the PEM
            raise ssl.SSLError(f"client certificate or key is not usable: {exc.reason or exc}") from None
