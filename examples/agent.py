"""What an agent does: the seed's examples, through the sidecar.

python examples/agent.py [TARGET]   # default: $CUSTOM_API_SIDECAR, else the default socket
"""

from __future__ import annotations

import sys

from custom_api_client import connect, errors

conv = connect(sys.argv[1] if len(sys.argv) > 1 else None)
print("APIs:", conv.api.list())

response = conv.api.salesforce.get_contact("123")
print(response, response.reason, response.elapsed.total_seconds(), response.url)
data = response.json()
print("status:", data["status"], "email:", data["email"])

response = conv.api.salesforce.get_contact(contact_id="999")
if response.status_code != 200:
    conv.log.error(f"Salesforce lookup failed: {response.status_code} {response.text}")
    print("404 comes back as a Response:", response.status_code, response.text)

response = conv.api.stripe.create_payment(
    amount=100,
    params={"expand": "customer"},
    json={"amount": 100, "currency": "usd"},
    headers={"X-Custom-Header": "value"},
)
response.raise_for_status()
print("payment:", response.status_code, response.json())

try:
    conv.api.salesforce.get_contacts("123")
except errors.UnknownOperation as exc:
    print("typed error:", exc.code, "-", exc)
