"""A real HTTP/1.1 upstream on 127.0.0.1 serving fixed documents, and the big order document the
shaping tests and ``bench.shaping_overhead`` read three fields of.

``DocumentsUpstream({"/orders/A-1": (200, "application/json", body), ...})`` answers a GET of a
listed path (the query ignored) with that status, Content-Type and body; anything else is a 404.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Document = tuple[int, str, bytes]


def order_document(items: int = 400) -> dict[str, Any]:
    """An order as a commerce API returns it: a few fields a voice agent needs (status, delivery
    estimate, carrier) buried in lines, addresses, payments and an event history."""
    return {
        "id": "A-1001",
        "status": "shipped",
        "customer": {"id": "cus_8812", "name": "Ada Lovelace", "email": "ada@example.com", "phone": "+441234567890"},
        "shipping": {
            "carrier": "DHL",
            "tracking": "JD014600003828",
            "eta": "2025-06-03",
            "address": {"line1": "12 St James's Square", "city": "London", "postcode": "SW1Y 4LB", "country": "GB"},
        },
        "lines": [
            {
                "sku": f"SKU-{n:05d}",
                "title": f"Replacement part {n} for the model {n % 17} kettle, stainless steel",
                "quantity": 1 + n % 3,
                "unit_price": {"amount": 1999 + n, "currency": "GBP"},
                "attributes": {"colour": "silver", "warranty_months": 24, "returnable": n % 5 != 0},
            }
            for n in range(items)
        ],
        "payments": [
            {"id": "pay_1", "method": "card", "last4": "4242", "amount": {"amount": 1_234_567, "currency": "GBP"}}
        ],
        "events": [
            {"at": f"2025-05-{1 + n % 28:02d}T10:{n % 60:02d}:00Z", "type": "status_changed", "note": f"step {n}"}
            for n in range(items // 2)
        ],
    }


def json_document(value: Any, status: int = 200, media: str = "application/json") -> Document:
    return status, media, json.dumps(value).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        status, media, body = self.server.documents.get(
            urlsplit(self.path).path, (404, "application/json", b'{"error": "no such document"}')
        )
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, documents: dict[str, Document]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.documents = documents


class DocumentsUpstream:
    def __init__(self, documents: dict[str, Document]) -> None:
        self._server = _Server(documents)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
