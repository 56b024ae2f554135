"""The test APIs, all pointing at loopback servers started by the tests."""

from __future__ import annotations


def test_config(upstream_url: str, dead_port: int) -> str:
    return f"""
apis:
  - name: salesforce
    description: CRM contacts
    connection:
      allow_http: true
      private_network: true
      base_urls:
        draft: {upstream_url}/echo/sf-sandbox
        pre-release: {upstream_url}/echo/sf-prerelease
        live: {upstream_url}/echo/sf-live
    endpoints:
      - name: get_contact
        description: Look up a contact
        method: GET
        path: /contacts/{{contact_id}}
        parameters:
          - {{name: contact_id, in: path, type: string, description: The contact id}}
        response_schema: {{type: object}}
  - name: stripe
    description: Payments
    connection: {{allow_http: true, private_network: true, base_url: {upstream_url}/echo/stripe}}
    endpoints:
      - name: create_payment
        method: POST
        path: /v1/payments
        request_body:
          type: object
          required: [amount]
          properties:
            amount: {{type: integer}}
            currency: {{type: string}}
  - name: upstream
    description: The test upstream's own routes
    # many tests here ask for errors on purpose: no breaker (tests/test_breaker.py tests it)
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}", timeout_ms: 5000,
                  circuit_breaker: {{enabled: false}}}}
    endpoints:
      - {{name: status, method: GET, path: "/status/{{code}}", parameters: [{{name: code, in: path, type: integer}}]}}
      - {{name: bytes, method: GET, path: "/bytes/{{n}}", parameters: [{{name: n, in: path, type: integer}}]}}
      - {{name: empty, method: GET, path: /empty}}
      - {{name: head_empty, method: HEAD, path: /empty}}
      - {{name: multi_headers, method: GET, path: /multi-headers}}
      - {{name: gzip, method: GET, path: /gzip}}
      - name: delay
        method: GET
        path: "/delay/{{seconds}}"
        timeout_ms: 500
        parameters: [{{name: seconds, in: path, type: number}}]
      - name: item
        method: GET
        path: "/echo/items/{{item_id}}"
        parameters: [{{name: item_id, in: path, type: string}}]
      - name: ticket_note  # seed 000: path variables with no parameters entry are arguments too
        method: GET
        path: "/echo/tickets/{{ticket_id}}/notes/{{note_id}}"
      - name: pair
        method: GET
        path: "/echo/a/{{first}}/b/{{second}}"
        parameters:
          - {{name: first, in: path, type: string}}
          - {{name: second, in: path, type: string}}
      - name: search
        method: GET
        path: /echo/search
        parameters:
          - {{name: q, in: query, type: string, required: true}}
          - {{name: limit, in: query, type: integer}}
          - {{name: tags, in: query, type: array}}
          - {{name: exact, in: query, type: boolean}}
          - {{name: X-Request-Id, in: header, type: string}}
      - {{name: post, method: POST, path: /echo/post}}
      - {{name: put, method: PUT, path: /echo/put}}
      - {{name: patch, method: PATCH, path: /echo/patch}}
      - {{name: delete, method: DELETE, path: /echo/delete}}
    security:
      max_response_bytes: 6000000
      response_headers: {{keep: [set-cookie]}}  # test_multi_valued_headers_keep_order reads them
  - name: dead
    description: Nothing listens here
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{dead_port}", timeout_ms: 2000,
                  circuit_breaker: {{enabled: false}}}}
    endpoints:
      - {{name: ping, method: GET, path: /ping}}
  - name: limited
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}/echo/limited"}}
    endpoints:
      - {{name: ping, method: GET, path: /ping}}
      - {{name: other, method: GET, path: /other}}
    security:
      url_allowlist: ["{upstream_url}/echo/limited/ping"]
      rate_limit: {{requests_per_minute: 3}}
      max_request_bytes: 1000
      max_response_bytes: 100000
"""
