"""One bad operation never refuses a whole imported API (issue 21).

``tests/specs/some-broken.yaml`` has four good operations among eight broken ones, each broken
its own way (a ``$ref`` to nothing used only by it, a parameter in no known location, a path item
that is not there, a schema the validator's meta-schema check refuses, a pattern that is not a
regular expression, a header name HTTP cannot carry, two operations reaching a component whose
conversion fails halfway) and one the sidecar does not support (TRACE). At import and at load the
good ones are kept and every other one is named with why; ``strict`` refuses them all, listed; a
spec with nothing importable is an error naming why; ``validate`` and ``serve`` say how many were
skipped.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import pathlib
import signal
import time
from typing import Any

import pytest
import yaml

from custom_api_sidecar import Sidecar
from custom_api_sidecar.cli import main
from custom_api_sidecar.config import ConfigError, Endpoint
from custom_api_sidecar.loader import imported_entry_problems, parse_config
from custom_api_sidecar.openapi import BrokenOperations, SpecError, _convert, import_spec
from custom_api_sidecar.operation_validators import operation_validators
from tests._support.processes import SidecarProcess
from tests._support.upstream import Upstream
from tests.test_openapi_import import assert_self_contained

SPEC = pathlib.Path(__file__).parent / "specs" / "some-broken.yaml"
GOOD = ["list_things", "delete_thing", "list_customers", "get_customer"]
# operation -> what its reason must say (the spec is wrong there, or the loader refuses the entry)
BROKEN = {
    "path '/legacy'": "broken $ref '#/components/x-path-items/Legacy'",
    "create_thing (POST /things)": "request_body: not a valid JSON Schema at properties/name/minLength",
    "get_thing (GET /things/{id})": "broken $ref '#/components/schemas/Missing'",
    "search_things (GET /things/search)": "parameter 'q' has unknown location 'matrix'",
    "find_by_code (GET /things/by-code/{code})": "parameters: not a valid JSON Schema at properties/code/pattern",
    "get_report (GET /reports)": "parameters[0].name: 'X Report Format' is not a valid HTTP header name",
    "list_orders (GET /orders)": "broken $ref '#/components/schemas/Price'",
    "get_order (GET /orders/{id})": "broken $ref '#/components/schemas/Price'",
}
UNSUPPORTED = {"trace_things (TRACE /things)": "method TRACE is not supported"}
SUMMARY = "4 of 13 operations imported, 9 skipped"


def _config(spec: pathlib.Path = SPEC, **openapi: Any) -> str:
    return f"apis:\n  - name: things\n    openapi: {json.dumps({'spec': str(spec), **openapi})}\n"


def _assert_reasons(found: list[tuple[str, str]], expected: dict[str, str]) -> None:
    reasons = dict(found)
    assert list(reasons) == list(expected), found
    for operation, says in expected.items():
        assert says in reasons[operation], (operation, reasons[operation])


# --- import ------------------------------------------------------------------------------------


def test_import_keeps_the_good_operations_and_names_each_skipped_one() -> None:
    result = import_spec(str(SPEC), name="things", check=imported_entry_problems)
    report = result.report
    assert [e["name"] for e in result.api["endpoints"]] == report.imported == GOOD
    assert report.operations_in_spec == 13
    _assert_reasons(report.broken, BROKEN)
    _assert_reasons(report.skipped, UNSUPPORTED)
    # the broken $ref's reason names the pointer where it was used
    assert f"{SPEC}#/paths/~1things~1%7Bid%7D/get/responses/200" in dict(report.broken)["get_thing (GET /things/{id})"]
    # Customer was converted inside list_orders' failed attempt; what list_customers gets is whole
    customers = {e["name"]: e for e in result.api["endpoints"]}["list_customers"]["response_schema"]
    assert_self_contained(customers)
    assert set(customers["$defs"]) == {"Customer"}
    # a security scheme that cannot be read costs a choice of authentication, not the spec
    assert any("security scheme 'old' left out" in w for w in report.warnings)
    assert result.api["authentication"]["config"]["header_name"] == "X-Api-Key"
    assert "13 operations in the spec: 4 imported, 0 excluded by include/exclude, 9 skipped" in report.summary()


def test_without_the_loader_check_only_what_the_importer_sees_is_skipped() -> None:
    report = import_spec(str(SPEC), name="things").report
    assert {"create_thing", "find_by_code", "get_report"} <= set(report.imported)
    assert len(report.broken) == 5


def test_strict_import_lists_every_broken_operation_and_accepts_unsupported_ones() -> None:
    with pytest.raises(BrokenOperations) as info:
        import_spec(str(SPEC), name="things", check=imported_entry_problems, strict=True)
    _assert_reasons(info.value.operations, BROKEN)
    assert "8 operation(s) cannot be imported (strict)" in str(info.value)
    unsupported_only = SPEC.parent / "openapi-3.1.yaml"  # a TRACE and an XML-only body: skipped, not broken
    assert len(import_spec(str(unsupported_only), name="b", strict=True).report.skipped) == 2


def test_a_converter_bug_costs_one_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _convert.Converter._response_schema

    def failing(self: Any, op: Any) -> Any:
        if op.spec.get("operationId") == "getCustomer":
            raise ZeroDivisionError("a bug")
        return original(self, op)

    monkeypatch.setattr(_convert.Converter, "_response_schema", failing)
    report = import_spec(str(SPEC), name="things").report
    assert dict(report.broken)["get_customer (GET /customers/{id})"] == (
        "could not be converted: ZeroDivisionError 'a bug'"
    )
    assert "list_customers" in report.imported


def test_hostile_reasons_are_bounded(tmp_path: pathlib.Path) -> None:
    """A spec's keys have any length and reasons quote pointers: 200,000 characters in, bounded out."""
    long = "/" + "a" * 200_000
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://t.example.com"}],
        "paths": {
            long: {"get": {"responses": {"200": {"$ref": "#/nowhere"}}}},
            "/ok": {"get": {"operationId": "ok", "responses": {"200": {"description": "ok"}}}},
        },
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    report = import_spec(str(path), name="t", check=imported_entry_problems).report
    assert report.imported == ["ok"]
    ((operation, why),) = report.broken
    assert len(operation) < 300 and len(why) <= _convert.MAX_REASON + 50
    assert why.endswith("has no 'nowhere'")
    assert "(200" in why  # the length it was cut from


# --- nothing importable ------------------------------------------------------------------------


def _write_spec(tmp_path: pathlib.Path, operations: dict[str, Any]) -> pathlib.Path:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://t.example.com"}],
        "paths": operations,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_spec_with_nothing_importable_is_an_error_naming_why(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {"200": {"description": "x", "content": {"application/json": {"schema": {"$ref": "#/gone"}}}}}
    path = _write_spec(tmp_path, {f"/p{i}": {"get": {"operationId": f"op{i}", "responses": broken}} for i in range(4)})
    with pytest.raises(SpecError) as info:
        import_spec(str(path), name="t")
    message = str(info.value)
    assert "no operation could be imported, 4 skipped: op0 (GET /p0): " in message
    assert "op2 (GET /p2)" in message and "op3" not in message and message.endswith("(and 1 more)")
    assert "broken $ref '#/gone'" in message

    with pytest.raises(ConfigError) as config_error:
        parse_config(_config(path), "apis.yaml")
    (problem,) = config_error.value.problems
    assert (problem.api, problem.field) == ("things", "openapi.spec")
    assert "no operation could be imported, 4 skipped" in problem.message

    out = tmp_path / "out.yaml"
    assert main(["import-openapi", str(path), "--name", "t", "-o", str(out)]) == 1
    assert "no operation could be imported, 4 skipped" in capsys.readouterr().err
    assert not out.exists()


def test_every_operation_refused_by_the_loader_is_an_error_too(tmp_path: pathlib.Path) -> None:
    bad_header = {"parameters": [{"name": "a b", "in": "header", "schema": {"type": "string"}}], "responses": {}}
    path = _write_spec(tmp_path, {"/a": {"get": bad_header}, "/b": {"post": bad_header}})
    with pytest.raises(ConfigError, match=r"no operation could be imported, 2 skipped: get_a \(GET /a\): parameters"):
        parse_config(_config(path), "apis.yaml")


# --- the command line --------------------------------------------------------------------------


def test_cli_writes_the_good_operations_and_validate_accepts_the_file(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "things.yaml"
    assert main(["import-openapi", str(SPEC), "--name", "things", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "OpenAPI 3.0.3, 13 operations in the spec: 4 imported, 0 excluded by include/exclude, 9 skipped" in err
    for operation, says in {**BROKEN, **UNSUPPORTED}.items():
        line = next(line for line in err.splitlines() if line.startswith(f"  skipped {operation}: "))
        assert says in line
    (api,) = yaml.safe_load(out.read_text())["apis"]
    assert [e["name"] for e in api["endpoints"]] == GOOD
    assert main(["validate", str(out), "--offline"]) == 0
    assert "OK: 1 APIs, 4 operations" in capsys.readouterr().out


def test_cli_strict_refuses_the_spec_listing_every_problem(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "things.yaml"
    assert main(["import-openapi", str(SPEC), "--name", "things", "--strict", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--strict: 8 operation(s) cannot be imported; nothing written" in err
    for operation, says in BROKEN.items():
        line = next(line for line in err.splitlines() if line.startswith(f"  {operation}: "))
        assert says in line
    assert "trace_things" not in err
    assert not out.exists()


# --- load ----------------------------------------------------------------------------------------


def test_load_skips_each_broken_operation_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="custom_api_sidecar.loader"):
        config = parse_config(_config(), "apis.yaml")
    (api,) = config.apis
    assert [e.name for e in api.endpoints] == GOOD
    assert api.openapi is not None and api.openapi.summary() == SUMMARY
    _assert_reasons(list(api.openapi.skipped), {**BROKEN, **UNSUPPORTED})
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for operation, says in {**BROKEN, **UNSUPPORTED}.items():
        prefix = f"api 'things': {SPEC}: operation {operation} not imported: "
        assert any(m.startswith(prefix) and says in m for m in messages), operation
    assert f"api 'things': openapi: {SUMMARY}" in messages

    registry = Sidecar(config).registry
    assert list(registry.apis["things"].operations) == GOOD
    # the registry serves with the validators the loader built to check the operations
    customer = registry.apis["things"].operations["get_customer"]
    built = operation_validators(customer.endpoint, check_response=True)
    assert customer.response_validator is built.response is not None


def test_validators_are_built_once_per_endpoint_and_forgotten_with_it() -> None:
    from custom_api_sidecar import operation_validators as module

    body = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}
    endpoint = Endpoint(name="x", method="POST", path="/x", request_body=body)
    first = operation_validators(endpoint, check_response=True)
    assert first.request_body is not None and first.request_body.violation({"a": "long"}) is not None
    assert operation_validators(endpoint, check_response=True) is first
    assert operation_validators(dataclasses.replace(endpoint), check_response=True) is not first  # equal, not it
    key = id(endpoint)
    assert key in module._built
    del endpoint
    gc.collect()
    assert key not in module._built


def test_load_strict_refuses_with_every_problem_listed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(strict=True), "apis.yaml")
    problems = info.value.problems
    assert {(p.api, p.field) for p in problems} == {("things", "openapi.spec")}
    assert len(problems) == len(BROKEN)
    for problem, (operation, says) in zip(problems, BROKEN.items(), strict=True):
        assert problem.message.startswith(f"operation {operation} cannot be imported (openapi.strict is on): ")
        assert says in problem.message
    with pytest.raises(ConfigError, match=r"openapi.strict: must be true or false, not 'yes'"):
        parse_config(_config(strict="yes"), "apis.yaml")


def test_a_broken_operation_replaced_by_the_entry_is_not_imported(tmp_path: pathlib.Path) -> None:
    """``endpoints:`` may define a broken operation by hand: the spec's is then never converted
    (not skipped, not an error even under ``strict``), and the hand-written one is served."""
    hand_written = "    endpoints:\n      - {name: get_thing, method: GET, path: '/things/{id}'}\n"
    (api,) = parse_config(_config() + hand_written, "apis.yaml").apis
    assert [e.name for e in api.endpoints] == [*GOOD, "get_thing"]
    assert api.endpoints[-1].response_schema is None  # the hand-written one
    assert api.openapi is not None
    assert api.openapi.summary() == "4 of 13 operations imported, 1 replaced by endpoints, 8 skipped"
    assert "get_thing (GET /things/{id})" not in dict(api.openapi.skipped)

    missing = {"200": {"description": "x", "content": {"application/json": {"schema": {"$ref": "#/gone"}}}}}
    ok = {"200": {"description": "ok"}}
    path = _write_spec(tmp_path, {"/a": {"get": {"responses": missing}}, "/b": {"get": {"responses": ok}}})
    with pytest.raises(ConfigError, match=r"operation get_a \(GET /a\) cannot be imported \(openapi.strict is on\)"):
        parse_config(_config(path, strict=True), "apis.yaml")
    hand_written = "    endpoints: [{name: get_a, method: GET, path: /a}]\n"
    (api,) = parse_config(_config(path, strict=True) + hand_written, "apis.yaml").apis
    assert [e.name for e in api.endpoints] == ["get_b", "get_a"]


def test_validate_prints_each_openapi_api_s_count(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "apis.yaml"
    clean = SPEC.parent / "multi" / "openapi.yaml"
    config.write_text(
        _config() + f"  - name: pets\n    openapi: {{spec: {clean}}}\n"
        "  - name: plain\n    connection: {base_url: 'https://plain.example.com'}\n"
        "    endpoints: [{name: ping, method: GET, path: /ping}]\n"
    )
    with caplog.at_level(logging.WARNING):
        assert main(["validate", str(config), "--offline"]) == 0
    out = capsys.readouterr().out
    assert f"  things: openapi: {SUMMARY} (see the warnings above)\n" in out
    assert "  pets: openapi: 3 of 3 operations imported\n" in out
    assert "plain: openapi" not in out
    assert "OK: 3 APIs, 8 operations" in out
    assert any("operation get_thing (GET /things/{id}) not imported" in r.getMessage() for r in caplog.records)


# --- serve ---------------------------------------------------------------------------------------


def test_serve_says_what_it_skipped_at_startup_and_at_reload(tmp_path: pathlib.Path, upstream: Upstream) -> None:
    config = tmp_path / "apis.yaml"
    connection = (
        "    connection: {allow_http: true, private_network: true, base_url: " + f"'{upstream.url}/echo/things'}}\n"
    )
    config.write_text(_config() + connection)
    sidecar = SidecarProcess(config, tmp_path / "s.sock")
    try:
        assert "operation get_thing (GET /things/{id}) not imported: " in sidecar.output
        assert f"api 'things': openapi: {SUMMARY}" in sidecar.output
        with sidecar.conv() as conv:
            response = conv.api.things.get_customer("c1")
            assert response.status_code == 200 and response.json()["path"] == "/echo/things/customers/c1"
            assert [op["name"] for op in conv.api.things.schema()["operations"]] == GOOD

            config.write_text(_config(exclude=["get_thing"]) + connection)
            sidecar.process.send_signal(signal.SIGHUP)
            reloaded = "openapi: 4 of 13 operations imported, 1 excluded by include/exclude, 8 skipped"
            deadline = time.monotonic() + 30
            while reloaded not in sidecar.output and time.monotonic() < deadline:
                time.sleep(0.1)
            assert reloaded in sidecar.output
            assert conv.api.things.get_customer("c2").status_code == 200
    finally:
        sidecar.stop()
