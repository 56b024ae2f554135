"""Results shaped for the LLM, as pure logic: ``ResultShaper`` over bodies and settings, the
bounded JMESPath run against hostile expressions and documents, the truncation marker, and
``custom_api_client._llm_text``. Through the real sidecar and MCP: tests/test_results_for_llm.py."""

from __future__ import annotations

import json
import time

import pytest

from custom_api_client import _llm_text as llm_text
from custom_api_sidecar.shaping import (
    MAX_RENDER_WEIGHT,
    MAX_SELECT_CHARS,
    MAX_SELECT_STEPS,
    ResultShaper,
    SelectError,
    SelectTooCostly,
    compile_select,
    render,
    run_select,
    weigh,
)
from tests._support.documents_upstream import order_document

JSON = [("Content-Type", "application/json")]
ORDER = json.dumps(order_document()).encode()
# Generous: the machine is shared. The budget is about a quarter of a second of CPU when idle.
WORST_CASE_S = 5.0


def shaped(select: str | None, body: bytes, *, max_chars: int = 4000, status: int = 200, headers=JSON) -> str | None:
    result = ResultShaper(select, max_chars).shape(status, headers, body)
    return None if result is None else result.text


# --- what the model reads ---------------------------------------------------------------------


def test_a_select_keeps_the_three_fields_the_model_needs():
    text = shaped("{status: status, eta: shipping.eta, carrier: shipping.carrier}", ORDER)
    assert text == '{"status": "shipped", "eta": "2025-06-03", "carrier": "DHL"}'
    assert len(ORDER) > 100_000  # from a document of over 100 KB


def test_projections_functions_and_non_ascii_text():
    body = json.dumps({"lines": [{"t": "Crème brûlée", "q": 2}, {"t": "Tea", "q": 1}]}).encode()
    assert shaped("lines[?q > `1`].t", body) == '["Crème brûlée"]'  # readable, not \\u escapes
    assert shaped("sum(lines[*].q)", body) == "3"
    assert shaped("missing.field", body) == "null"  # the model learns there is nothing there


def test_truncation_is_explicit_and_counts_what_was_cut():
    text = shaped("lines", ORDER, max_chars=100)
    whole = json.dumps(order_document()["lines"], ensure_ascii=False)
    assert text == f"{whole[:100]}…[truncated {len(whole) - 100:,} characters]"
    assert shaped("status", ORDER, max_chars=100) == '"shipped"'  # nothing cut: no marker


def test_without_select_the_body_text_is_cut_at_max_chars():
    text = shaped(None, ORDER, max_chars=50)
    assert text == f"{ORDER.decode()[:50]}…[truncated {len(ORDER) - 50:,} characters]"


@pytest.mark.parametrize("status", [404, 500, 302])
def test_an_error_answer_is_never_selected_from(status):
    body = b'{"error": {"code": "order_not_found", "message": "no order A-9"}}'
    assert shaped("{status: status}", body, status=status) == body.decode()  # not {"status": null}
    assert shaped("status", body, status=status, max_chars=10) == body.decode()[:10] + "…[truncated 55 characters]"


def test_non_json_bodies_are_their_text_cut():
    html = b"<html>" + b"x" * 500 + b"</html>"
    assert shaped("a.b", html, headers=[("Content-Type", "text/html; charset=utf-8")], max_chars=20) == (
        "<html>xxxxxxxxxxxxxx…[truncated 493 characters]"
    )
    latin = "Crème".encode("latin-1")
    assert shaped("a", latin, headers=[("Content-Type", "text/plain; charset=latin-1")]) == "Crème"
    mislabelled = b"not json {"
    assert shaped("a", mislabelled) == "not json {"  # labelled JSON, is not: its text


def test_binary_and_empty_bodies_are_not_shaped():
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert shaped("a", png, headers=[("Content-Type", "image/png")]) is None
    assert shaped("a", b"") is None
    assert shaped("a", b"\xff\xfe{", headers=JSON) is None  # JSON that is not UTF-8: as binary, as MCP has it


# --- load-time checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("orders[", "is not a JMESPath expression: Incomplete expression (at character 7)"),
        ("a.$", "Unknown token $ (at character 2)"),
        ("", "is empty"),
        ("frobnicate(@)", "calls an unknown function 'frobnicate'()"),
        ("length(@, @)", "calls length() with 2 arguments; it takes 1"),
        ("not_null()", "calls not_null() with 0 arguments; it takes at least 1"),
        ("a" * (MAX_SELECT_CHARS + 1), f"is {MAX_SELECT_CHARS + 1:,} characters; at most {MAX_SELECT_CHARS:,}"),
        (" | ".join(["[@,@]"] * 70), "syntax nodes; at most 200"),
        (".".join(["{a: @"] * 40) + "}" * 40, "levels deep; at most 32"),
    ],
)
def test_bad_expressions_are_refused_at_load_with_a_bounded_reason(expression, problem):
    with pytest.raises(SelectError) as info:
        compile_select(expression)
    assert problem in str(info.value)
    assert len(str(info.value)) < 400  # never the whole expression


def test_a_deeply_parenthesized_expression_is_refused_not_a_crash():
    with pytest.raises(SelectError):
        compile_select("(" * 500 + "a" + ")" * 500)


# --- hostile documents and expressions ------------------------------------------------------------


def timed(fn):
    start = time.process_time()
    try:
        return fn(), time.process_time() - start
    except SelectTooCostly as exc:
        return exc, time.process_time() - start


@pytest.mark.parametrize(
    "expression",
    [
        " | ".join(["[@,@,@,@][]"] * 12),  # each step makes a list four times longer
        " | ".join(["[@,@]"] * 30) + " | to_string(@)",  # a structure whose text doubles per step
        "[" + ", ".join([" | ".join(["[@,@]"] * 12)] * 2) + "] | [0] == [1]",  # a deep comparison of two such
        " | ".join(["[@,@]"] * 30) + " | contains(@, `1`)",
        "[" + ", ".join(["to_string(@)"] * 8) + "] | join('', @) | [@,@,@,@] | join('', @) | [@,@,@,@] | join('', @)",
        "sort_by([*], &to_string(@))",  # every element serialized
        "[*][*][*]",  # projections of projections
    ],
)
def test_a_multiplying_expression_stops_at_its_budget(expression):
    document = list(range(20_000))
    outcome, cpu = timed(lambda: run_select(compile_select(expression), document))
    assert isinstance(outcome, SelectTooCostly) or weigh(outcome, MAX_SELECT_STEPS) is not None
    assert cpu < WORST_CASE_S


MULTIPLY = " | ".join(["[@,@,@,@][]"] * 8)
TWINS = f"[a, b] | {MULTIPLY}"  # 131,072 references to two 2 MB strings
PAIRS = f"[{{x: a, y: b}}] | {MULTIPLY}"  # 65,536 references to a pair of them


@pytest.mark.parametrize(
    "expression",
    [
        f"{PAIRS} | [?x < y]",  # each comparison reads 2 MB before the strings differ
        f"{TWINS} | sort_by(@, &@)",
        f"{TWINS} | sort(@)",
        f"{TWINS} | max(@)",
        "[a, b] | " + " | ".join(["[@,@]"] * 16) + " | [0] == [1]",
        "join(a, [c, c, c, c] | " + " | ".join(["[@,@,@,@][]"] * 6) + ")",  # a 2 MB separator, 16,384 times
    ],
)
def test_long_strings_compared_many_times_stop_at_the_budget(expression):
    document = {"a": "x" * 2_000_000 + "1", "b": "x" * 2_000_000 + "2", "c": "!"}  # a and b differ at the end
    outcome, cpu = timed(lambda: run_select(compile_select(expression), document))
    assert isinstance(outcome, SelectTooCostly)
    assert cpu < WORST_CASE_S


def test_comparisons_and_sorts_keep_their_meaning():
    body = json.dumps({"lines": [{"t": "b", "q": 2}, {"t": "a", "q": 1}, {"t": "c", "q": True}]}).encode()
    assert shaped("sort_by(lines, &t)[*].t", body) == '["a", "b", "c"]'
    assert shaped("lines[?t >= 'b'].t", body) == '["b", "c"]'
    assert shaped("lines[?q == `1`].t", body) == '["a"]'  # true is not 1, as JMESPath has it
    assert shaped("lines[?q > `1`].t", body) == '["b"]'  # a boolean is not ordered
    assert shaped("max_by(lines, &t).t", body) == '"c"'
    assert shaped("sort(lines[*].t)", body) == '["a", "b", "c"]'
    assert shaped("join(', ', lines[*].t)", body) == '"b, a, c"'


def test_budget_exhaustion_degrades_the_text_and_says_why():
    document = json.dumps(list(range(5_000))).encode()
    result = ResultShaper(" | ".join(["[@,@][]"] * 12), 60).shape(200, JSON, document)
    assert result is not None and "more than 1,000,000 steps" in result.problem
    note, body = result.text.split("\n")
    assert note == f"[result.select was not applied: {result.problem}; the body follows, unshaped]"
    assert body == document.decode()[:60] + f"…[truncated {len(document) - 60:,} characters]"


def test_a_select_type_error_degrades_the_text_too():
    result = ResultShaper("abs(status)", 4000).shape(200, JSON, b'{"status": "shipped"}')
    assert result is not None and "invalid type for value" in result.problem
    assert result.text.endswith('\n{"status": "shipped"}')


def test_a_shared_structure_is_rendered_to_max_chars_only():
    big = ["x" * 100] * 10_000  # about a megabyte of text, built from shared strings
    value = [big, big, big, big]  # over the render weight: streamed, never serialized whole
    assert weigh(value, MAX_RENDER_WEIGHT) is None
    text, cpu = timed(lambda: render(value, 1000))
    assert text.startswith('[["xxx') and text.endswith("…[truncated; more than 2,000,000 characters in all]")
    assert len(text) == 1000 + len("…[truncated; more than 2,000,000 characters in all]")
    assert cpu < WORST_CASE_S


def test_a_document_nested_past_the_decoder_is_its_text():
    deep = b"[" * 100_000 + b"]" * 100_000
    outcome, cpu = timed(lambda: shaped("[0][0][0]", deep, max_chars=10))
    assert outcome == "[[[[[[[[[[…[truncated 199,990 characters]"
    assert cpu < WORST_CASE_S


def test_a_deep_document_within_the_decoder_is_walked_without_recursion():
    depth = 900  # close to what json.loads accepts
    body = ("[" * depth + "1" + "]" * depth).encode()
    assert weigh(json.loads(body), 10_000) == depth + 1
    text = shaped("[0][0]", body, max_chars=8)
    assert text is not None and text.startswith("[[[[[[[[…[truncated")


def test_weigh_counts_per_reference_and_stops_at_its_limit():
    shared = {"k": "abc"}
    assert weigh([shared, shared], 1000) == 1 + 2 * (1 + 1 + 1 + 3)
    assert weigh([shared] * 1000, 50) is None


# --- the text the client and MCP both give ------------------------------------------------------


def test_for_llm_puts_the_status_line_first():
    assert llm_text.for_llm(200, "OK", JSON, b'{"a": 1}') == 'HTTP 200 OK\n{"a": 1}'
    assert llm_text.for_llm(200, "OK", JSON, b'{"a": 1}', shaped='{"a": 1}') == 'HTTP 200 OK\n{"a": 1}'
    assert llm_text.for_llm(204, "No Content", [], b"") == "HTTP 204 No Content"
    assert llm_text.for_llm(202, "Accepted", JSON, b"{}", job_id="j1").startswith(
        "HTTP 202 Accepted: queued as background job j1\n"
    )
    assert llm_text.for_llm(200, "OK", [("content-type", "image/png")], bytes(2048)) == (
        "HTTP 200 OK\n[binary body: image/png, 2,048 bytes]"
    )


def test_truncated_keeps_max_chars_and_counts_the_rest():
    assert llm_text.truncated("abcdef", 6) == "abcdef"
    assert llm_text.truncated("a" * 12_346, 1) == "a…[truncated 12,345 characters]"
