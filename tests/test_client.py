"""The agent-side client on its own: targets, unreachable sidecars, discovery, independence."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from custom_api_client import DEFAULT_TARGET, connect, errors
from custom_api_client._target import resolve_target


def test_target_resolution(monkeypatch):
    monkeypatch.delenv("CUSTOM_API_SIDECAR", raising=False)
    assert resolve_target(None) == DEFAULT_TARGET == "unix:///tmp/custom-api-sidecar.sock"
    monkeypatch.setenv("CUSTOM_API_SIDECAR", "127.0.0.1:6000")
    assert resolve_target(None) == "127.0.0.1:6000"
    assert resolve_target("/run/s.sock") == "unix:///run/s.sock"
    assert resolve_target("unix:///x.sock") == "unix:///x.sock"


def test_env_target_is_used(monkeypatch, running):
    monkeypatch.setenv("CUSTOM_API_SIDECAR", running.unix_target)
    with connect() as conv:
        assert conv.target == running.unix_target
        assert conv.api.salesforce.get_contact("1").ok


@pytest.mark.parametrize("target", ["unix:///tmp/definitely-not-a-sidecar.sock", "127.0.0.1:1"])
def test_unreachable_sidecar_fails_fast_naming_the_target(target):
    start = time.monotonic()
    with pytest.raises(errors.SidecarUnavailable) as info, connect(target) as conv:
        conv.api.salesforce.get_contact("1")
    assert target in str(info.value)
    assert info.value.code == "SIDECAR_UNAVAILABLE"
    assert time.monotonic() - start < 5


def test_list_and_describe(unix_conv):
    assert unix_conv.api.list() == ["salesforce", "stripe", "upstream", "dead", "limited"]
    schema = unix_conv.api.salesforce.schema()
    assert schema["name"] == "salesforce" and schema["environment"] == "sandbox"
    op = unix_conv.api.salesforce.get_contact.schema()
    assert op["method"] == "GET" and op["path"] == "/contacts/{contact_id}"
    assert op["parameters"] == [
        {"name": "contact_id", "in": "path", "type": "string", "required": True, "description": "The contact id"}
    ]
    assert op["input_schema"] == {
        "type": "object",
        "properties": {"contact_id": {"type": "string", "description": "The contact id"}},
        "required": ["contact_id"],
        "additionalProperties": False,
    }
    assert op["output_schema"] == {"type": "object"}


def test_describe_includes_body_properties(unix_conv):
    op = unix_conv.api.stripe.create_payment.schema()
    assert op["input_schema"]["required"] == ["amount"]
    assert set(op["input_schema"]["properties"]) == {"amount", "currency"}


def test_describe_never_shows_base_urls(unix_conv, upstream):
    for name in unix_conv.api.list():
        text = json.dumps(unix_conv.api[name].schema())
        assert upstream.url not in text and "127.0.0.1" not in text


def test_describe_unknown_api(unix_conv):
    with pytest.raises(errors.UnknownApi, match="did you mean 'stripe'"):
        unix_conv.api.strip.schema()
    with pytest.raises(errors.UnknownOperation):
        unix_conv.api.stripe.refund.schema()


def test_conv_log(unix_conv, caplog):
    with caplog.at_level("INFO", logger="custom_api.conv"):
        unix_conv.log.info("looked up %s", "123")
        unix_conv.log.warning("slow")
        unix_conv.log.error("failed")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "looked up 123"),
        ("WARNING", "slow"),
        ("ERROR", "failed"),
    ]


def test_client_imports_nothing_from_the_sidecar():
    code = (
        "import sys, client; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sidecar', 'httpx', 'yaml', 'hvac', 'authlib')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_generated_code_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "protos/generate.py", "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_same_conv_recovers_when_the_sidecar_restarts(upstream, tmp_path):
    from tests._support.configs import test_config
    from tests._support.sidecar import closed_port, start_sidecar

    config = test_config(upstream.url, closed_port())
    socket_path = str(tmp_path / "s.sock")
    first = start_sidecar(config, socket_path)
    conv = connect(first.unix_target)
    assert conv.api.salesforce.get_contact("1").ok
    first.stop()
    outage_ends = time.monotonic() + 6
    while time.monotonic() < outage_ends:  # the agent keeps calling during the outage
        with pytest.raises(errors.SidecarUnavailable):
            conv.api.salesforce.get_contact("1")
        time.sleep(0.2)
    second = start_sidecar(config, socket_path)
    try:
        deadline = time.monotonic() + 2  # gRPC's default backoff would be several seconds by now
        while True:
            try:
                assert conv.api.salesforce.get_contact("1").ok
                break
            except errors.SidecarUnavailable:
                assert time.monotonic() < deadline, "the client did not reconnect within 2 s"
                time.sleep(0.05)
    finally:
        conv.close()
        second.stop()
