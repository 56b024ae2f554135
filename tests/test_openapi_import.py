"""The OpenAPI/Swagger importer: real specs, multi-file and recursive specs, 3.1,
URL fetching from a real local HTTP server, invalid specs, and the `openapi:` config source."""

from __future__ import annotations

import http.server
import json
import keyword
import pathlib
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from custom_api_client import connect
from custom_api_sidecar import Sidecar
from custom_api_sidecar.config import IDENTIFIER, RESERVED_ARGUMENTS, RESERVED_NAMES, ConfigError
from custom_api_sidecar.loader import parse_config
from custom_api_sidecar.openapi import SpecError, import_spec
from custom_api_sidecar.openapi._names import argument_names, operation_name, shorten, snake_case, unique
from tests._support.sidecar import start_sidecar
from tests.specs import large_spec

SHARED_SPECS = pathlib.Path(__file__).parent / "specs" / "public"  # the real public specs
SPECS = pathlib.Path(__file__).parent / "specs"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _load(path: pathlib.Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _spec_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> operation, counted from the spec itself."""
    return {
        (method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def assert_self_contained(schema: dict[str, Any]) -> None:
    """Every $ref is local to the schema's own $defs and names a def that is there."""
    defs = schema.get("$defs", {})
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in defs, ref
    jsonschema.Draft202012Validator.check_schema(schema)


def _all_schemas(endpoint: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("request_body", "response_schema"):
        if key in endpoint:
            yield endpoint[key]
    for param in endpoint.get("parameters", ()):
        yield param["schema"]


# --- every shared spec ---------------------------------------------------------------


SHARED = {
    "petstore-3.0.yaml": "http://petstore.swagger.io/v1",
    "petstore-expanded-3.0.yaml": "https://petstore.swagger.io/v2",
    "hubspot-crm-contacts-3.0.json": "https://api.hubapi.com",
    "slack-web-swagger-2.0.json": "https://slack.com/api",
}


@pytest.mark.parametrize("filename", sorted(SHARED))
def test_shared_specs_import_every_operation(filename: str) -> None:
    spec = _load(SHARED_SPECS / filename)
    operations = _spec_operations(spec)
    result = import_spec(str(SHARED_SPECS / filename), name="api")

    endpoints = result.api["endpoints"]
    assert result.report.operations_in_spec == len(operations)
    assert len(endpoints) == len(operations), result.report.summary()
    assert result.base_url == SHARED[filename] == result.api["connection"]["base_url"]
    names = [e["name"] for e in endpoints]
    assert len(set(names)) == len(names)
    for endpoint in endpoints:
        name = endpoint["name"]
        assert IDENTIFIER.match(name) and not keyword.iskeyword(name) and name not in RESERVED_NAMES
        op = operations[(endpoint["method"], endpoint["path"])]
        assert name == operation_name(op.get("operationId"), endpoint["method"], endpoint["path"])
        # Parameter locations as declared (path-level + operation-level; body/formData are the body).
        item = spec["paths"][endpoint["path"]]
        declared = {
            (p["name"], p["in"])
            for p in [*item.get("parameters", []), *op.get("parameters", [])]
            if "$ref" not in p and p["in"] not in ("body", "formData")
        }
        assert {(p["name"], p["in"]) for p in endpoint.get("parameters", [])} == declared
        for param in endpoint.get("parameters", []):
            arg = param.get("arg", param["name"])
            assert arg.isidentifier() and arg not in RESERVED_ARGUMENTS and not keyword.iskeyword(arg)
        for schema in _all_schemas(endpoint):
            assert_self_contained(schema)


def test_shared_spec_names_and_bodies() -> None:
    petstore = {e["name"]: e for e in import_spec(str(SHARED_SPECS / "petstore-3.0.yaml"), name="p").api["endpoints"]}
    assert list(petstore) == ["list_pets", "create_pets", "show_pet_by_id"]
    assert petstore["show_pet_by_id"]["parameters"][0] == {
        "name": "petId",
        "in": "path",
        "type": "string",
        "required": True,
        "description": "The id of the pet to retrieve",
        "schema": {"type": "string"},
    }

    expanded = {
        e["name"]: e for e in import_spec(str(SHARED_SPECS / "petstore-expanded-3.0.yaml"), name="p").api["endpoints"]
    }
    add_pet = expanded["add_pet"]
    assert "request_content_type" not in add_pet  # JSON is the default
    assert add_pet["request_body_required"] is True
    assert add_pet["request_body"]["required"] == ["name"]  # the $ref root is inlined: properties visible
    assert expanded["find_pets"]["parameters"][0]["name"] == "tags"
    assert expanded["find_pets"]["parameters"][0]["schema"] == {"type": "array", "items": {"type": "string"}}

    hubspot = import_spec(str(SHARED_SPECS / "hubspot-crm-contacts-3.0.json"), name="hubspot")
    names = [e["name"] for e in hubspot.api["endpoints"]]
    assert "get_crm_v3_objects_contacts_get_page" in names  # operationId 'get-/crm/v3/objects/contacts_getPage'
    assert hubspot.api["authentication"]["type"] in ("api_key", "bearer_token")


def test_slack_form_bodies_and_header_token() -> None:
    spec = _load(SHARED_SPECS / "slack-web-swagger-2.0.json")
    operations = _spec_operations(spec)
    result = import_spec(str(SHARED_SPECS / "slack-web-swagger-2.0.json"), name="slack")
    by_name = {e["name"]: e for e in result.api["endpoints"]}
    with_form = 0
    for endpoint in result.api["endpoints"]:
        op = operations[(endpoint["method"], endpoint["path"])]
        form = {p["name"] for p in op["parameters"] if p["in"] == "formData"}
        if form:
            with_form += 1
            assert endpoint["request_content_type"] == "application/x-www-form-urlencoded"
            assert set(endpoint["request_body"]["properties"]) == form
        else:
            assert "request_body" not in endpoint
    assert with_form > 50
    post = by_name["chat_post_message"]
    assert post["path"] == "/chat.postMessage" and post["method"] == "POST"
    assert post["request_body"]["required"] == ["channel"]
    assert {"name": "token", "in": "header"}.items() <= post["parameters"][0].items()
    assert by_name["conversations_history"]["method"] == "GET"
    # `items: [a, b]` (not allowed by OpenAPI) is read as anyOf, and reported.
    assert any("read as anyOf" in w for w in result.report.warnings)


# --- multi-file, recursive, 3.1, Swagger 2 -----------------------------------------------------


def test_multi_file_spec() -> None:
    result = import_spec("openapi.yaml", name="pets", base_dir=SPECS / "multi")
    by_name = {e["name"]: e for e in result.api["endpoints"]}
    assert list(by_name) == ["list_pets", "create_pet", "get_pet_by_id"]
    limit = by_name["list_pets"]["parameters"][0]  # parameters.yaml -> schemas/common.yaml
    assert limit == {
        "name": "limit",
        "in": "query",
        "type": "integer",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    pet_id = by_name["get_pet_by_id"]["parameters"][0]  # path-level parameter from another file
    assert pet_id["name"] == "petId" and pet_id["required"] is True and pet_id["schema"]["format"] == "int64"
    response = by_name["get_pet_by_id"]["response_schema"]
    assert set(response["$defs"]) == {"NewPet", "Pet", "Tag"}
    assert response["$defs"]["Tag"]["example"] == "2024-01-01"  # a YAML date stays text
    for endpoint in by_name.values():
        for schema in _all_schemas(endpoint):
            assert_self_contained(schema)
    pet = {"id": 1, "name": "a", "offspring": [{"id": 2, "name": "b", "tag": "x", "offspring": []}]}
    jsonschema.validate(pet, response)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": 1, "name": "a", "offspring": [{"name": "no id"}]}, response)


def test_recursive_schemas_stay_finite() -> None:
    result = import_spec(str(SPECS / "recursive.yaml"), name="trees")
    (plant,) = result.api["endpoints"]
    body, response = plant["request_body"], plant["response_schema"]
    assert body["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert set(body["$defs"]) == {"Node"}
    assert set(response["$defs"]) == {"Branch", "Leaf"}  # mutual recursion
    assert_self_contained(body)
    assert_self_contained(response)
    tree = {"value": "root", "children": [{"value": "a", "children": [{"value": "b", "children": []}]}]}
    jsonschema.validate(tree, body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"children": [{"children": [{"value": 3}]}]}, body)
    json.dumps(result.api)  # finite: serializes


def test_openapi_31_spec() -> None:
    result = import_spec(str(SPECS / "openapi-3.1.yaml"), name="bookings")
    report = result.report
    assert report.version == "3.1.0"
    assert result.base_url == "https://eu.bookings.example.com/v2"  # server variables -> defaults
    by_name = {e["name"]: e for e in result.api["endpoints"]}
    assert list(by_name) == [
        "bookings_get",
        "bookings_cancel",
        "creer_reservation",
        "class_",
        "list_",
        "get_menus_menu_id",
        "bookings_get_2",
        "bookings_get_3",
    ]
    assert report.operations_in_spec == 10
    skipped = dict(report.skipped)
    assert "method TRACE is not supported" in skipped["trace_booking (TRACE /bookings/{booking-id})"]
    assert "text/csv" in skipped["import_bookings (POST /bookings/import)"]

    get = by_name["bookings_get"]
    assert get["path"] == "/bookings/{booking_id}"  # a path variable that is not an identifier is renamed
    assert get["description"] == "Get a booking\n\nReturns one booking by its id."
    params = {(p["name"], p["in"]): p for p in get["parameters"]}
    assert ("session", "cookie") not in params and ("Accept", "header") not in params
    assert any("cookie parameter 'session' skipped" in w for w in report.warnings)
    assert params[("verbose", "query")]["type"] == "integer"  # the operation-level parameter wins
    assert params[("json", "query")]["arg"] == "json_"
    assert params[("from", "query")]["arg"] == "from_"
    assert params[("x_request_id", "query")]["arg"] == "x_request_id_query"  # collides with X-Request-ID
    assert "arg" not in params[("X-Request-ID", "header")]
    assert params[("filter", "query")]["style"] == "deepObject"
    assert params[("ids", "query")]["explode"] is False and "style" not in params[("ids", "query")]
    assert params[("where", "query")]["schema"]["contentMediaType"] == "application/json"
    assert get["response_schema"]["properties"]["table"]["type"] == ["integer", "null"]

    create = by_name["creer_reservation"]  # +json wins over form and text/plain
    assert "request_content_type" not in create and create["request_body_required"] is True
    assert create["request_body"]["properties"]["note"] == {"type": ["string", "null"]}
    guest_ref = create["request_body"]["properties"]["guest"]["$ref"]  # `#/$defs/Guest` inside a component
    guest = create["request_body"]["$defs"][guest_ref.removeprefix("#/$defs/")]
    assert guest["properties"]["plus_one"] == {"$ref": guest_ref}
    assert create["response_schema"]["properties"]["id"]["readOnly"] is True  # from application/problem+json
    assert by_name["bookings_get_2"]["request_content_type"] == "multipart/form-data"
    assert by_name["list_"]["response_schema"]["items"]["$ref"].startswith("#/$defs/Guest")  # 2XX
    assert "request_body" not in by_name["class_"]  # octet-stream only and optional: not imported, warned
    assert any("application/octet-stream not imported" in w for w in report.warnings)
    for endpoint in by_name.values():
        for schema in _all_schemas(endpoint):
            assert_self_contained(schema)
    assert result.api["authentication"] == {
        "type": "oauth2",
        "config": {
            "token_url": "https://auth.bookings.example.com/token",
            "client_id": "vault://secret/{environment}/bookings#client_id",
            "client_secret": "vault://secret/{environment}/bookings#client_secret",
            "scopes": ["bookings.read"],
        },
    }


def test_swagger_2_bodies_formats_and_security() -> None:
    result = import_spec(str(SPECS / "swagger-2.0.yaml"), name="files")
    assert result.base_url is None  # no host: the person must give the base URL
    assert any("no 'host'" in w for w in result.report.warnings)
    assert "connection" not in result.api
    by_name = {e["name"]: e for e in result.api["endpoints"]}
    params = {p["name"]: p for p in by_name["list_files"]["parameters"]}
    assert params["ids"]["explode"] is False and "style" not in params["ids"]  # csv, the Swagger default
    assert "style" not in params["tags"] and "explode" not in params["tags"]  # multi = form, exploded
    assert params["kinds"]["style"] == "pipeDelimited"
    assert params["words"]["style"] == "spaceDelimited"
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    upload = by_name["upload_file"]
    assert upload["request_content_type"] == "multipart/form-data"
    assert upload["request_body"]["properties"]["file"] == {"type": "string", "format": "binary"}
    assert upload["request_body"]["required"] == ["file"]
    assert by_name["rename_file"]["request_content_type"] == "application/x-www-form-urlencoded"
    replace = by_name["replace_file"]
    assert replace["request_body_required"] is True and replace["request_body"]["required"] == ["name"]
    assert set(replace["request_body"]["$defs"]) == {"Folder"}
    assert result.api["authentication"] == {
        "type": "api_key",
        "config": {"header_name": "X-Api-Key", "key": "vault://secret/{environment}/files#api_key"},
    }
    override = import_spec(str(SPECS / "swagger-2.0.yaml"), name="files", base_url="https://files.example.com/v1/")
    assert override.api["connection"] == {"base_url": "https://files.example.com/v1"}


def test_include_and_exclude_by_tag_and_name() -> None:
    spec = str(SPECS / "swagger-2.0.yaml")
    only_admin = import_spec(spec, name="f", include=["admin"])
    assert [e["name"] for e in only_admin.api["endpoints"]] == ["rename_file", "replace_file"]
    assert only_admin.report.excluded == ["list_files", "upload_file"]
    some = import_spec(spec, name="f", include=["files", "replace_file"], exclude=["uploadFile"])
    assert [e["name"] for e in some.api["endpoints"]] == ["list_files", "replace_file"]
    with pytest.raises(SpecError, match=r"include 'fiels' matches no tag.*\(tags: admin, files\)"):
        import_spec(spec, name="f", include=["fiels"])


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "expected"),
    [
        ("getPetById", "get", "/pets/{petId}", "get_pet_by_id"),
        ("conversations.history", "get", "/x", "conversations_history"),
        ("crm.contacts.basic_api.get_page", "get", "/x", "crm_contacts_basic_api_get_page"),
        ("getHTTPResponseV2", "get", "/x", "get_http_response_v2"),
        ("Ünïcödé—name!!", "get", "/x", "unicode_name"),
        ("2fa-enable", "post", "/x", "op_2fa_enable"),
        ("import", "post", "/x", "import_"),
        ("schema", "get", "/x", "schema_"),
        (None, "get", "/pets/{petId}", "get_pets_pet_id"),
        ("?!", "delete", "/users/{user-id}/keys", "delete_users_user_id_keys"),
    ],
)
def test_operation_names(operation_id: str | None, method: str, path: str, expected: str) -> None:
    assert operation_name(operation_id, method, path) == expected


def test_long_names_are_cut_with_a_stable_hash() -> None:
    long_a = "get_" + "very_long_segment_" * 6 + "a"
    long_b = "get_" + "very_long_segment_" * 6 + "b"
    cut_a, cut_b = shorten(long_a), shorten(long_b)
    assert len(cut_a) == len(cut_b) == 64 and cut_a != cut_b
    assert shorten(long_a) == cut_a and IDENTIFIER.match(cut_a)
    assert operation_name("x" * 200, "get", "/") == shorten("x" * 200)


def test_unique_names_in_spec_order() -> None:
    assert unique(["a", "b", "a", "a_2", "a"]) == ["a", "b", "a_3", "a_2", "a_4"]
    deduped = unique(["x" * 64, "x" * 64])
    assert deduped[1].endswith("_2") and len(deduped[1]) <= 64


def test_argument_names() -> None:
    params = [("json", "query"), ("X-Id", "header"), ("x_id", "query"), ("name", "query"), ("1st", "query")]
    assert argument_names(params, {"name"}) == ["json_", "x_id", "x_id_query", "name_query", "p_1st"]
    assert snake_case("ÉtéHTTP.Value") == "ete_http_value"


# --- invalid specs -------------------------------------------------------------------------------


def _write(tmp_path: pathlib.Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_broken_ref_names_the_pointer_and_where_it_was_used() -> None:
    with pytest.raises(SpecError) as info:
        import_spec(str(SPECS / "broken-ref.yaml"), name="b")
    message = str(info.value)
    assert "broken $ref '#/components/schemas/Missing'" in message
    assert "#/components/schemas has no 'Missing'" in message
    assert "broken-ref.yaml#/paths/~1things~1%7Bid%7D/get/responses/200/content/application~1json/schema" in message


def test_broken_ref_to_a_missing_file(tmp_path: pathlib.Path) -> None:
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"get": {"parameters": [{"$ref": "nowhere.yaml#/p"}], "responses": {}}}},
    }
    with pytest.raises(SpecError, match=r"\$ref to .*nowhere.yaml \(used at .*#/paths/~1a/get/parameters/0\) failed"):
        import_spec(_write(tmp_path, "spec.json", spec), name="x")


def test_pure_ref_cycle() -> None:
    with pytest.raises(SpecError, match=r"\$ref cycle with no schema in it: .*schemas/A -> .*schemas/B -> .*schemas/A"):
        import_spec(str(SPECS / "ref-cycle.yaml"), name="c")


def test_ref_cycle_between_parameters(tmp_path: pathlib.Path) -> None:
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/P"}], "responses": {}}}},
        "components": {
            "parameters": {"P": {"$ref": "#/components/parameters/Q"}, "Q": {"$ref": "#/components/parameters/P"}}
        },
    }
    with pytest.raises(SpecError, match=r"\$ref cycle with no real object in it"):
        import_spec(_write(tmp_path, "spec.json", spec), name="x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"openapi": "3.0.0", "info": {}}, r"no 'paths': a spec needs a 'paths' mapping"),
        ({"openapi": "3.0.0", "paths": {}}, r"'paths' has no operations to import"),
        ({"name": "config", "apis": []}, r"not an OpenAPI or Swagger document: .*top-level keys: 'name', 'apis'"),
        ([1, 2], r"not an OpenAPI or Swagger document: found a list"),
        ({"openapi": "4.0.0", "paths": {}}, r"unsupported OpenAPI version '4.0.0'"),
        ({"swagger": "1.2", "paths": {}}, r"unsupported Swagger version '1.2'"),
        ("key: [unclosed", r"not valid JSON or YAML"),
    ],
)
def test_invalid_documents(tmp_path: pathlib.Path, content: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        import_spec(_write(tmp_path, "spec.yaml", content), name="x")


def test_missing_file() -> None:
    with pytest.raises(SpecError, match=r"no-such-spec.yaml: cannot read file"):
        import_spec("/nonexistent/no-such-spec.yaml", name="x")


# --- URLs, from a real HTTP server on loopback ----------------------------------------------------


class _SpecServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The timeout and size-limit tests hang up mid-response on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(SPECS), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/slow.yaml":
            time.sleep(2)
            return self._send(b"openapi: 3.0.0\n")
        if self.path == "/big.json":
            return self._send(b" " * (2 * 1024 * 1024) + b"{}")
        if self.path == "/big-chunked.json":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            for _ in range(40):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/multi/openapi.yaml")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if self.path == "/relative-server.yaml":
            spec = {"openapi": "3.0.0", "info": {}, "servers": [{"url": "/api/v1"}], "paths": {"/a": {"get": {}}}}
            return self._send(json.dumps(spec).encode())
        if self.path == "/refers-to-file.json":
            spec = {
                "openapi": "3.0.0",
                "info": {},
                "paths": {
                    "/a": {
                        "get": {"parameters": [{"$ref": f"{(SPECS / 'multi' / 'parameters.yaml').as_uri()}#/limit"}]}
                    }
                },
            }
            return self._send(json.dumps(spec).encode())
        return super().do_GET()

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def spec_server() -> Iterator[str]:
    server = _SpecServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_url_on_loopback_is_refused_without_permission(spec_server: str) -> None:
    with pytest.raises(SpecError, match=r"plain http is refused"):
        import_spec(f"{spec_server}/petstore.yaml", name="x")
    with pytest.raises(SpecError, match=r"refusing to fetch: egress denied: 127.0.0.1, a loopback address"):
        import_spec(f"{spec_server}/petstore.yaml", name="x", allow_http=True)
    with pytest.raises(SpecError, match=r"egress denied: localhost resolves to .*loopback"):
        import_spec(spec_server.replace("127.0.0.1", "localhost") + "/multi/openapi.yaml", name="x", allow_http=True)


def test_multi_file_spec_over_http(spec_server: str) -> None:
    result = import_spec(f"{spec_server}/multi/openapi.yaml", name="pets", allow_private_network=True, allow_http=True)
    from_file = import_spec(str(SPECS / "multi" / "openapi.yaml"), name="pets")
    assert result.api["endpoints"] == from_file.api["endpoints"]
    assert result.report.source == f"{spec_server}/multi/openapi.yaml"


def test_redirect_and_relative_server_url(spec_server: str) -> None:
    redirected = import_spec(f"{spec_server}/redirect", name="pets", allow_private_network=True, allow_http=True)
    assert len(redirected.api["endpoints"]) == 3
    relative = import_spec(f"{spec_server}/relative-server.yaml", name="x", allow_private_network=True, allow_http=True)
    assert relative.base_url == f"{spec_server}/api/v1"


def test_url_timeout_and_size_limit(spec_server: str) -> None:
    with pytest.raises(SpecError, match=r"slow.yaml: timed out after 0.5 s"):
        import_spec(f"{spec_server}/slow.yaml", name="x", allow_private_network=True, allow_http=True, timeout=0.5)
    with pytest.raises(SpecError, match=r"big.json: is 2097154 bytes, over the 1048576-byte limit"):
        import_spec(
            f"{spec_server}/big.json", name="x", allow_private_network=True, allow_http=True, max_bytes=1024 * 1024
        )
    with pytest.raises(SpecError, match=r"big-chunked.json: is over the 1048576-byte limit"):
        import_spec(
            f"{spec_server}/big-chunked.json",
            name="x",
            allow_private_network=True,
            allow_http=True,
            max_bytes=1024 * 1024,
        )


def test_a_fetched_spec_cannot_read_local_files(spec_server: str) -> None:
    with pytest.raises(SpecError, match=r"a spec fetched from a URL may not refer to local file"):
        import_spec(f"{spec_server}/refers-to-file.json", name="x", allow_private_network=True, allow_http=True)


def test_http_error_status(spec_server: str) -> None:
    with pytest.raises(SpecError, match=r"missing.yaml: fetching the spec returned HTTP 404"):
        import_spec(f"{spec_server}/missing.yaml", name="x", allow_private_network=True, allow_http=True)


# --- the openapi: config source -----------------------------------------------------------------


def test_config_openapi_source_relative_to_the_config_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "petstore.yaml").write_text((SHARED_SPECS / "petstore-expanded-3.0.yaml").read_text())
    config_path = tmp_path / "apis.yaml"
    config_path.write_text(
        """
apis:
  - name: pets
    openapi:
      spec: specs/petstore.yaml
      exclude: [deletePet]
    endpoints:
      - name: find_pet_by_id
        description: hand-written override
        method: GET
        path: /pets/{id}
        parameters: [{name: id, in: path, type: integer}]
      - name: health
        method: GET
        path: /health
"""
    )
    from custom_api_sidecar.loader import load_config

    config = load_config(config_path)
    (api,) = config.apis
    assert api.connection.base_urls["live"] == "https://petstore.swagger.io/v2"  # from the spec's servers
    assert [e.name for e in api.endpoints] == ["find_pets", "add_pet", "find_pet_by_id", "health"]
    assert api.endpoints[2].description == "hand-written override"
    assert api.endpoints[1].request_body_required is True


def test_config_openapi_source_with_base_url_and_arg_override() -> None:
    config = parse_config(
        f"""
apis:
  - name: bookings
    connection: {{base_url: "https://bookings.internal"}}
    openapi: {{spec: {SPECS / "openapi-3.1.yaml"}, include: [bookings_get]}}
"""
    )
    (api,) = config.apis
    assert api.connection.base_urls["sandbox"] == "https://bookings.internal"
    # A selector matches a tag, an operation name or an operationId: here the name of the first
    # operation and the operationId of the PUT (named bookings_get_2 after de-duplication).
    endpoint, put = api.endpoints
    assert put.name == "bookings_get_2"
    args = {p.arg_name: p.name for p in endpoint.parameters}
    assert args["json_"] == "json" and args["from_"] == "from" and args["x_request_id_query"] == "x_request_id"


@pytest.mark.parametrize(
    ("openapi", "field", "message"),
    [
        (f"{{spec: {SPECS / 'broken-ref.yaml'}}}", "openapi.spec", "broken $ref '#/components/schemas/Missing'"),
        (f"{{spec: {SPECS / 'ref-cycle.yaml'}}}", "openapi.spec", "$ref cycle"),
        (f"{{spec: {SPECS / 'recursive.yaml'}, include: [nope]}}", "openapi.spec", "include 'nope' matches no tag"),
        ("{spec: 3}", "openapi.spec", "must be a spec path"),
        (f"{{spec: {SPECS / 'recursive.yaml'}, include: nope}}", "openapi.include", "must be a list"),
        (f"{{spec: {SPECS / 'recursive.yaml'}, fetch: true}}", "openapi.fetch", "unknown field"),
        ("{spec: http://127.0.0.1:9/spec.yaml}", "openapi.spec", "plain http is refused"),
        ("{spec: http://127.0.0.1:9/spec.yaml, allow_http: true}", "openapi.spec", "a loopback address"),
    ],
)
def test_config_openapi_source_problems(openapi: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"apis:\n  - name: broken\n    openapi: {openapi}\n", "apis.yaml")
    problems = [p for p in info.value.problems if p.field == field]
    assert problems and message in problems[0].message, info.value.problems
    assert problems[0].api == "broken"


def test_config_without_a_base_url_anywhere() -> None:
    with pytest.raises(ConfigError, match=r"connection: the spec names no usable server URL; give connection.base_url"):
        parse_config(f"apis:\n  - name: files\n    openapi: {{spec: {SPECS / 'swagger-2.0.yaml'}}}\n")


def test_sidecar_from_an_openapi_entry_answers_describe_api() -> None:
    config = f"""
apis:
  - name: pets
    description: Pets from a spec
    openapi: {{spec: {SPECS / "multi" / "openapi.yaml"}}}
"""
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(config, f"{tmp}/sidecar.sock")
        try:
            with connect(sidecar.unix_target) as conv:
                assert "pets" in conv.api.list()
                described = conv.api.pets.schema()
                ops = {op["name"]: op for op in described["operations"]}
                assert list(ops) == ["list_pets", "create_pet", "get_pet_by_id"]
                get = ops["get_pet_by_id"]
                assert get["path"] == "/pets/{petId}"
                assert get["input_schema"]["required"] == ["petId"]
                assert set(get["output_schema"]["$defs"]) == {"NewPet", "Pet", "Tag"}
                assert ops["create_pet"]["input_schema"]["properties"]["name"] == {"type": "string"}
                assert "pets.example.com" not in json.dumps(described)
        finally:
            sidecar.stop()


# --- scale ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_spec_path() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield large_spec.write(pathlib.Path(tmp) / "large-openapi-3.0.json")


def test_large_spec_imports_and_loads(large_spec_path: pathlib.Path) -> None:
    assert large_spec_path.stat().st_size > 2_000_000
    spec = json.loads(large_spec_path.read_text())
    expected = len(_spec_operations(spec))
    started = time.perf_counter()
    result = import_spec(str(large_spec_path), name="big")
    elapsed = time.perf_counter() - started
    assert len(result.api["endpoints"]) == expected > 1000
    # A guard against accidental quadratic work (the measured time is ~0.3 s), not a benchmark.
    assert elapsed < 20, elapsed
    config = parse_config(f"apis:\n  - name: big\n    openapi: {{spec: {large_spec_path}}}\n")
    sidecar = Sidecar(config)
    assert len(sidecar.registry.apis["big"].operations) == expected
    sample = result.api["endpoints"][-2]  # update: a body with allOf, recursion and shared schemas
    assert_self_contained(sample["request_body"])
    assert_self_contained(sample["response_schema"])
    assert re.fullmatch(r"update_resource\d+", sample["name"])
