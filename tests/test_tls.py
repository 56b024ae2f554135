"""TLS verification is on by default: a self-signed upstream is SSL_ERROR unless verify_ssl: false."""

from __future__ import annotations

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from custom_api_client import connect, errors
from tests._support.sidecar import start_sidecar


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp / "key.pem"),
            "-out",
            str(tmp / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CONFIG = """
apis:
  - name: strict
    connection: {{private_network: true, base_url: "{url}"}}
    endpoints: [{{name: hello, method: GET, path: /}}]
  - name: lax
    connection: {{private_network: true, base_url: "{url}", verify_ssl: false}}
    endpoints: [{{name: hello, method: GET, path: /}}]
"""


def test_self_signed_upstream(tls_upstream, tmp_path):
    sidecar = start_sidecar(CONFIG.format(url=tls_upstream), str(tmp_path / "s.sock"))
    try:
        with connect(sidecar.unix_target) as conv:
            with pytest.raises(errors.SSLError, match="certificate verification failed"):
                conv.api.strict.hello()
            assert conv.api.lax.hello().text == "hello"
    finally:
        sidecar.stop()
