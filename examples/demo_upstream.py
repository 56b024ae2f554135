"""A tiny CRM + payments HTTP server for the walkthrough (stdlib only, loopback only).

python examples/demo_upstream.py [PORT]
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CONTACTS = {
    "123": {"id": "123", "status": "active", "email": "customer@example.com", "name": "Ada Lovelace"},
    "456": {"id": "456", "status": "churned", "email": "grace@example.com", "name": "Grace Hopper"},
}


# The credentials the sidecar injects (examples/run.sh sets the same values for it).
CRM_TOKEN = os.environ.get("DEMO_CRM_TOKEN", "demo-crm-token")
PAYMENTS_KEY = os.environ.get("DEMO_PAYMENTS_KEY", "demo-payments-key")


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get("Authorization") != f"Bearer {CRM_TOKEN}":
            self._send(401, {"error": "missing or wrong bearer token"})
        elif url.path.startswith("/crm/contacts/"):
            contact = CONTACTS.get(unquote(url.path.rsplit("/", 1)[1]))
            self._send(200, contact) if contact else self._send(404, {"error": "no such contact"})
        elif url.path == "/crm/contacts":
            query = parse_qs(url.query).get("query", [""])[0].lower()
            limit = int(parse_qs(url.query).get("limit", ["10"])[0])
            found = [c for c in CONTACTS.values() if query in c["name"].lower()][:limit]
            self._send(200, found)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.headers.get("X-API-Key") != PAYMENTS_KEY:
            self._send(401, {"error": "missing or wrong API key"})
        elif urlsplit(self.path).path == "/payments/payments":
            self._send(
                201,
                {"id": "pay_1", "status": "succeeded", **body, "custom_header": self.headers.get("X-Custom-Header")},
            )
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    print(f"demo upstream on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
