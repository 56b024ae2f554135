"""The three agent-native features on one operation: an argument bound to the conversation
context, a cached answer, and a result shaped for the LLM. Each is tested on its own elsewhere;
here they meet, where a mistake would leak one caller's answer to another: the cache key must
hold the bound value itself (not the redacted URL the records show), and a cached answer must be
shaped like a fresh one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from custom_api_client import connect
from tests._support.sidecar import ThreadedSidecar, start_sidecar
from tests._support.upstream import Upstream


@pytest.fixture(scope="module")
def sidecar(upstream: Upstream, tmp_path_factory) -> Iterator[ThreadedSidecar]:  # type: ignore[no-untyped-def]
    text = f"""
apis:
  - name: crm
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}/echo/crm"}}
    endpoints:
      - name: my_account
        method: GET
        path: /customers
        parameters:
          - {{name: phone, in: query, required: true, from_context: caller_number}}
        cache: {{ttl_s: 60}}
        result: {{select: "{{query: query}}", max_chars: 200}}
"""
    running = start_sidecar(text, str(tmp_path_factory.mktemp("together") / "s.sock"))
    yield running
    running.stop()


def _sent(upstream: Upstream) -> int:
    return sum(1 for r in upstream.requests if r["path"].startswith("/echo/crm/customers"))


def test_two_callers_never_share_a_cached_answer_and_each_is_shaped(sidecar, upstream):
    before = _sent(upstream)
    answers = {}
    for caller in ("+441111111111", "+442222222222", "+441111111111", "+442222222222"):
        with connect(sidecar.unix_target, context={"caller_number": caller}) as conv:
            r = conv.api.crm.my_account()
        answers.setdefault(caller, []).append(r)
    assert _sent(upstream) - before == 2  # one upstream call per caller; each repeat from the cache
    for caller, (first, again) in answers.items():
        assert (first.from_cache, again.from_cache) == (False, True)
        # the answer is the caller's own: the echo shows the number the upstream received
        assert first.json()["query"] == again.json()["query"] == f"phone={caller.replace('+', '%2B')}"
        assert first.for_llm() == again.for_llm()  # a cached answer reads like a fresh one
        shaped = json.loads(again.for_llm().split("\n", 1)[1])
        assert shaped == {"query": f"phone={caller.replace('+', '%2B')}"}
