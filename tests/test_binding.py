"""Argument binding against the echo upstream: parameter styles, form and multipart
bodies, bodies behind $ref, required and unknown arguments."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import tempfile
from collections.abc import Iterator

import pytest

from custom_api_client import connect, errors
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream


def binding_config(upstream_url: str) -> str:
    return f"""
apis:
  - name: shop
    connection: {{allow_http: true, private_network: true, base_url: "{upstream_url}/echo/shop"}}
    endpoints:
      - name: styles
        method: GET
        path: /items/{{ids}}/{{label}}/{{matrix}}
        parameters:
          - {{name: ids, in: path, type: array, schema: {{type: array, items: {{type: integer}}}}}}
          - {{name: label, in: path, type: array, style: label, schema: {{type: array, items: {{type: string}}}}}}
          - {{name: matrix, in: path, type: object, style: matrix, explode: true}}
          - {{name: tags, in: query, type: array}}
          - {{name: csv, in: query, type: array, explode: false}}
          - {{name: spaced, in: query, type: array, style: spaceDelimited, explode: false}}
          - {{name: piped, in: query, type: array, style: pipeDelimited, explode: false}}
          - {{name: filter, in: query, type: object, style: deepObject}}
          - {{name: point, in: query, type: object}}
          - {{name: X-Ids, in: header, type: array}}
          - {{name: X-Point, in: header, type: object, explode: true}}
      - name: simple_object
        method: GET
        path: /objects/{{value}}
        parameters:
          - {{name: value, in: path, type: object}}
          - {{name: pairs, in: query, type: object, explode: false}}
      - name: submit_form
        method: POST
        path: /forms
        request_content_type: application/x-www-form-urlencoded
        request_body:
          type: object
          required: [name]
          properties:
            name: {{type: string}}
            count: {{type: integer}}
            tags: {{type: array, items: {{type: string}}}}
            urgent: {{type: boolean}}
      - name: upload
        method: POST
        path: /uploads
        request_content_type: multipart/form-data
        request_body_required: true
        request_body:
          type: object
          required: [file]
          properties:
            file: {{type: string, format: binary}}
            title: {{type: string}}
            meta: {{type: object}}
            pages: {{type: array, items: {{type: integer}}}}
      - name: create
        method: POST
        path: /contacts
        request_body_required: true
        request_body:
          $ref: "#/$defs/Contact"
          $defs:
            Contact:
              allOf:
                - $ref: "#/$defs/Base"
                - type: object
                  required: [name]
                  properties: {{name: {{type: string}}, email: {{type: string, format: email}}}}
            Base:
              type: object
              required: [id]
              properties: {{id: {{type: integer, readOnly: true}}}}
      - name: bulk
        method: POST
        path: /bulk
        request_body: {{type: array, items: {{type: integer}}}}
"""


@pytest.fixture(scope="module")
def sidecar(upstream: Upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(binding_config(upstream.url), f"{tmp}/sidecar.sock")
        yield running
        running.stop()


@pytest.fixture(scope="module")
def conv(sidecar: ThreadedSidecar):
    with connect(sidecar.unix_target) as c:
        yield c


def seen_headers(seen: dict) -> dict[str, str]:
    return {k.lower(): v for k, v in seen["headers"]}


# --- parameter styles ------------------------------------------------------------


def test_query_styles(conv):
    seen = conv.api.shop.styles(
        [1, 2],
        ["a", "b"],
        {"x": 1, "y": 2},
        tags=["t1", "t2"],
        csv=["c1", "c2"],
        spaced=["s 1", "s2"],
        piped=["p1", "p2"],
        filter={"status": "open", "owner": {"id": 7}},
        point={"lat": 1.5, "lon": -2},
    ).json()
    assert seen["query"] == (
        "tags=t1&tags=t2&csv=c1%2Cc2&spaced=s+1+s2&piped=p1%7Cp2"
        "&filter%5Bstatus%5D=open&filter%5Bowner%5D%5Bid%5D=7&lat=1.5&lon=-2"
    )


def test_path_styles_encode_every_value_and_keep_delimiters(conv):
    seen = conv.api.shop.styles([1, 2], ["a/b", "c"], {"x": "1;2", "y": True}).json()
    assert seen["path"] == "/echo/shop/items/1,2/.a%2Fb,c/;x=1%3B2;y=true"


def test_simple_object_in_path_and_unexploded_object_in_query(conv):
    seen = conv.api.shop.simple_object({"r": 100, "g": 200}, pairs={"a": "x,y", "b": 2}).json()
    assert seen["path"] == "/echo/shop/objects/r,100,g,200"
    assert seen["query"] == "pairs=a%2Cx%2Cy%2Cb%2C2"


def test_header_styles(conv):
    seen = conv.api.shop.styles([1], ["a"], {"x": 1}, x_ids=[1, 2], x_point={"a": 1, "b": "two"}).json()
    assert seen_headers(seen)["x-ids"] == "1,2"
    assert seen_headers(seen)["x-point"] == "a=1,b=two"


def test_nested_values_in_a_flat_style_are_refused(conv, upstream):
    before = len(upstream.requests)
    with pytest.raises(errors.InvalidArgument, match="argument 'tags' must be a string, number or boolean, not list"):
        conv.api.shop.styles([1], ["a"], {"x": 1}, tags=[["nested"]])
    assert len(upstream.requests) == before


def test_empty_path_array_is_refused(conv):
    with pytest.raises(errors.InvalidArgument, match="path variable 'ids' must not be ''"):
        conv.api.shop.styles([], ["a"], {"x": 1})


# --- bodies ----------------------------------------------------------------------


def test_form_body_from_keywords(conv):
    seen = conv.api.shop.submit_form(name="Ada Lovelace", count=2, tags=["a", "b"], urgent=True).json()
    assert seen["body"] == "name=Ada%20Lovelace&count=2&tags=a&tags=b&urgent=true"
    assert seen_headers(seen)["content-type"] == "application/x-www-form-urlencoded"


def multipart_parts(seen: dict) -> list:
    content_type = seen_headers(seen)["content-type"]
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + base64.b64decode(seen["body_b64"])
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    return list(message.iter_parts())


def test_multipart_body_from_keywords(conv):
    payload = b"%PDF-1.4\x00\xff\xfe binary"
    seen = conv.api.shop.upload(file=payload, title="Scan \u00e9", meta={"k": [1, 2]}, pages=[1, 2]).json()
    assert seen_headers(seen)["content-type"].startswith("multipart/form-data; boundary=")
    parts = multipart_parts(seen)
    summary = [
        (p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type()) for p in parts
    ]
    assert summary == [
        ("file", "file", "application/octet-stream"),
        ("title", None, "text/plain"),
        ("meta", None, "application/json"),
        ("pages", None, "text/plain"),
        ("pages", None, "text/plain"),
    ]
    assert parts[0].get_payload(decode=True) == payload
    assert parts[1].get_payload(decode=True).decode() == "Scan \u00e9"
    assert json.loads(parts[2].get_payload(decode=True)) == {"k": [1, 2]}
    assert [p.get_payload(decode=True) for p in parts[3:]] == [b"1", b"2"]


def test_data_mapping_follows_the_declared_multipart_encoding(conv):
    seen = conv.api.shop.upload(data={"file": "plain text", "title": "t"}).json()
    parts = multipart_parts(seen)
    assert [(p.get_param("name", header="content-disposition"), p.get_payload(decode=True)) for p in parts] == [
        ("file", b"plain text"),
        ("title", b"t"),
    ]


def test_body_behind_ref_and_all_of_binds_from_keywords(conv):
    seen = conv.api.shop.create(name="Ada", email="ada@example.com").json()  # id is readOnly: not required
    assert json.loads(seen["body"]) == {"name": "Ada", "email": "ada@example.com"}


def test_non_object_body_goes_through_json(conv):
    seen = conv.api.shop.bulk(json=[1, 2, 3]).json()
    assert seen["body"] == "[1,2,3]"


# --- required and unknown arguments ------------------------------------------------


def test_missing_required_body_property(conv, upstream):
    before = len(upstream.requests)
    with pytest.raises(errors.InvalidArgument) as info:
        conv.api.shop.submit_form(count=1)
    assert "missing required argument(s): name (accepted: count, name, tags, urgent)" in str(info.value)
    assert info.value.field == "name"
    assert len(upstream.requests) == before


def test_missing_required_request_body(conv):
    with pytest.raises(errors.InvalidArgument, match=r"missing the request body: pass its properties as keyword"):
        conv.api.shop.upload()


def test_unknown_argument_lists_body_properties_too(conv):
    with pytest.raises(errors.InvalidArgument) as info:
        conv.api.shop.create(nmae="Ada")
    assert "unexpected argument 'nmae'; did you mean 'name'?" in str(info.value)
    assert "(accepted: email, id, name; plus params, json, data, headers, timeout)" in str(info.value)


def test_bytes_cannot_go_into_a_json_body(conv):
    with pytest.raises(errors.InvalidArgument, match=r"body.email: b'\\x00\\xff' is not of type 'string'"):
        conv.api.shop.create(name="Ada", email=b"\x00\xff")


def test_body_keywords_cannot_mix_with_data(conv):
    with pytest.raises(errors.InvalidArgument, match=r"body arguments \(name\) make a form body"):
        conv.api.shop.submit_form(name="x", data={"count": "1"})


def test_new_config_keys_are_checked():
    from custom_api_sidecar.config import ConfigError
    from custom_api_sidecar.loader import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(
            """
apis:
  - name: a
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:1"}
    validation: {response: strict}
    endpoints:
      - name: e
        method: POST
        path: /x
        request_content_type: text/plain
        request_body_required: "yes"
        parameters: [{name: q, in: query, style: matrix}, {name: H, in: header, explode: 1}]
"""
        )
    assert str(info.value).splitlines() == [
        "<memory>: api 'a': validation.response: 'strict' is not one of enforce, warn, off",  # read first
        "<memory>: api 'a': endpoints[0].parameters[0].style: 'matrix' is not a style for query parameters; "
        "use one of form, spaceDelimited, pipeDelimited, deepObject",
        "<memory>: api 'a': endpoints[0].parameters[1].explode: must be true or false, not 1",
        "<memory>: api 'a': endpoints[0].request_content_type: 'text/plain' is not one of application/json, "
        "application/x-www-form-urlencoded, multipart/form-data",
        "<memory>: api 'a': endpoints[0].request_body_required: must be true or false, not 'yes'",
    ]


def test_style_defaults_per_location():
    from custom_api_sidecar.loader import parse_config

    config = parse_config(
        """
apis:
  - name: a
    connection: {allow_http: true, private_network: true, base_url: "http://127.0.0.1:1"}
    validation: {response: off}
    endpoints:
      - name: e
        method: GET
        path: /x/{p}
        parameters:
          - {name: p, in: path}
          - {name: q, in: query}
          - {name: H, in: header}
          - {name: d, in: query, style: deepObject}
"""
    )
    params = config.apis[0].endpoints[0].parameters
    assert [(p.style, p.explode) for p in params] == [
        ("simple", False),
        ("form", True),
        ("simple", False),
        ("deepObject", True),
    ]
    assert config.apis[0].validation.response == "off"  # YAML's unquoted off is false
