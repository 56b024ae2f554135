"""import-openapi's config text written from events (``openapi/_yaml_text.py``): what ``yaml.dump``
with the CLI's dumper writes, in a fraction of the time. Byte for byte for real specs; libyaml's
emitter and PyYAML's differ only in how they spell a few odd keys and characters (an empty key,
characters outside the Basic Multilingual Plane), and the text always reads back the same."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_api_sidecar.openapi import import_spec
from custom_api_sidecar.openapi._cli import _def_names, _dumper_for, render
from custom_api_sidecar.openapi._yaml_text import plain_yaml
from tests.specs import scale_spec

SPECS = pathlib.Path(__file__).parent / "specs"

text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["yes", "null", "~", "1e3", "0x10", "- a", "a: b", "#x", "multi\nline\n", "tab\tand\nnewline"]),
    st.sampled_from(["\r\n", " lead", "trail ", "'", '"', "é\u2028", "&anchor", "*alias", "!tag", "|", ">"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text)
keys = st.one_of(text, st.integers(-3, 3), st.booleans(), st.none())


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[int, str]]:
    """An ``apis`` document whose named definitions appear in several places, as an import's do."""
    values = st.recursive(
        scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=3), max_leaves=8
    )
    defs = draw(st.lists(st.dictionaries(keys, values, min_size=1, max_size=3), min_size=1, max_size=3))
    uses = st.lists(st.sampled_from(range(len(defs))), max_size=4)
    endpoints = [
        {"name": f"op{i}", "response_schema": {"type": "object", "$defs": {f"D{j}": defs[j] for j in draw(uses)}}}
        for i in range(draw(st.integers(1, 4)))
    ]
    api = {"name": "big", "description": draw(text), "endpoints": endpoints, "extra": draw(values)}
    return {"apis": [api]}, _def_names(api)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(document=documents())
def test_the_text_reads_back_as_yaml_dumps_does(document: tuple[dict[str, Any], dict[int, str]]) -> None:
    data, anchors = document
    expected = yaml.dump(data, Dumper=_dumper_for(data["apis"][0]), sort_keys=False, allow_unicode=True, width=120)
    text = plain_yaml(data, anchors, width=120)
    assert text is not None
    assert yaml.safe_load(text) == data
    # PyYAML's own emitter, the reference here, misspells a few values itself: a NEL (U+0085) in a
    # single-quoted key reads back as spaces. Compared with it only where it is right.
    if yaml.safe_load(expected) == data:
        assert re.findall(r"[&*][\w-]+\n", text) == re.findall(r"[&*][\w-]+\n", expected)  # same anchors


def test_a_value_it_does_not_write_goes_to_yaml_dump() -> None:
    assert plain_yaml({"a": b"bytes"}, {}, width=120) is None
    assert plain_yaml({"a": {1, 2}}, {}, width=120) is None


@pytest.mark.parametrize(
    "spec",
    [
        "public/slack-web-swagger-2.0.json",
        "public/hubspot-crm-contacts-3.0.json",
        "multi/openapi.yaml",
        "recursive.yaml",
    ],
)
def test_real_specs_render_as_before(spec: str) -> None:
    result = import_spec(str(SPECS / spec), name="api")
    body = yaml.dump(
        {"apis": [result.api]}, Dumper=_dumper_for(result.api), sort_keys=False, allow_unicode=True, width=120
    )
    assert render(result).endswith("\n" + body)


def test_a_big_spec_renders_as_before(tmp_path: pathlib.Path) -> None:
    result = import_spec(str(scale_spec.write(tmp_path / "spec.json", 100)), name="big")
    body = yaml.dump(
        {"apis": [result.api]}, Dumper=_dumper_for(result.api), sort_keys=False, allow_unicode=True, width=120
    )
    text = render(result)
    assert text.endswith("\n" + body)
    assert text.count(": &") > 50 and text.count(": *") > 100  # definitions written once, then aliased


def test_a_line_break_character_in_a_key_reads_back() -> None:
    """NEL (U+0085) and the Unicode separators are line breaks to YAML: PyYAML's emitter folds a NEL
    in a quoted key into spaces; the events writer escapes it."""
    for key in ("\x85", "a\u2028b", "\u2029"):
        data = {"apis": [{"name": "big", "endpoints": [{"name": "op0", "response_schema": {key: None}}]}]}
        text = plain_yaml(data, {}, width=120)
        assert text is not None and yaml.safe_load(text) == data
