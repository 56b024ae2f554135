"""An HTTPS upstream on 127.0.0.1 with a certificate from a test CA, optionally requiring a client
certificate (mTLS). It answers JSON: the path, the Host header and the client certificate's CN."""

from __future__ import annotations

import contextlib
import json
import pathlib
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        subject = dict(item[0] for item in (peer or {}).get("subject", ()))
        body = json.dumps({"path": self.path, "host": self.headers.get("Host"), "client": subject.get("commonName")})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext

    def get_request(self):  # type: ignore[no-untyped-def]
        """Handshake here, and on failure behave like a strict TLS server: OpenSSL has queued its
        alert (unknown CA, certificate required); read what the client already sent before closing,
        so the alert reaches it instead of a TCP reset."""
        raw, address = self.socket.accept()
        tls = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            raw.settimeout(1)
            with contextlib.suppress(OSError):
                while raw.recv(65536):
                    pass
            tls.close()
            raise
        return tls, address

    def handle_error(self, request, client_address) -> None:  # failed handshakes are expected in tests
        pass


class TlsUpstream:
    def __init__(self, cert: pathlib.Path, key: pathlib.Path, client_ca: pathlib.Path | None = None) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
            # TLS 1.2: the client certificate is judged inside the handshake, so a rejection is a
            # handshake alert. (Under TLS 1.3 it comes after the client's handshake has finished,
            # and some servers then just reset the connection: UPSTREAM_PROTOCOL_ERROR.)
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.context = context
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
