"""Any language: examples/node/client.mjs uses only protos/ (no generated code) and calls a real
sidecar: health, ListApis, DescribeApi, Invoke with a positional value, keyword values and a JSON
body, and decodes the ``custom-api-error-bin`` ErrorDetail trailer of a failed call."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests._support.readme import README, block

ROOT = README.parent


@pytest.fixture(scope="module")
def output(example_host) -> list[str]:
    assert shutil.which("node"), "node is not installed (tests/run.sh installs nodejs)"
    install, run = block("shell node").strip().splitlines()
    # npm needs the registry, which the private network cannot reach: install on the host's network.
    installed = subprocess.run(install, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    result = example_host.host.run(run)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_health_list_and_describe(output):
    assert output[0] == "health: SERVING"
    assert output[1] == "apis (sandbox): salesforce[get_contact,search_contacts] stripe[create_payment]"
    assert output[2] == "describe: salesforce.get_contact GET /contacts/{contact_id} params=contact_id"


def test_invoke_positional_keyword_and_json_body(output):
    assert output[3] == "get_contact positional: 200 customer@example.com"
    assert output[4] == "get_contact keyword: 200 123"
    assert output[5] == "search_contacts: 200 http://127.0.0.1:8787/crm/contacts?query=ada&limit=2"
    assert output[6].startswith('create_payment: 201 {"id": "pay_1", "status": "succeeded", "amount": 100')


def test_error_detail_trailer_decoded(output):
    assert output[7] == (
        "error: grpc NOT_FOUND UNKNOWN_OPERATION: API 'salesforce' has no operation 'get_contacts'; "
        "did you mean 'get_contact' or 'search_contacts'? (the operations are: get_contact, search_contacts) "
        "suggestions=get_contact,search_contacts"
    )
