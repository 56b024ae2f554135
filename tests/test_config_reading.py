"""Reading a config file's YAML from libyaml's events (``loader/_read.py``): the same documents
PyYAML's safe loader builds, the same bounds on what aliases expand to, and the composer's way
for what the event reader leaves to it (tags, merge keys)."""

from __future__ import annotations

import math
import pathlib
import time
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_api_sidecar.config import ConfigError
from custom_api_sidecar.loader import _read, parse_config
from custom_api_sidecar.loader._read import DocumentTooLarge, document_sizes, read_documents

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "~", "null", "1e3", "0x1F", "1_000", "2024-01-01", "<<", "=", "'", ""]),
)
keys = st.one_of(st.text(max_size=6), st.integers(-5, 5), st.booleans(), st.none())


class Shared:
    """A place in a generated document that holds one of the pool's objects (so YAML aliases it)."""

    def __init__(self, index: int) -> None:
        self.index = index


def _fill(node: Any, pool: list[Any]) -> Any:
    if isinstance(node, Shared):
        return pool[node.index % len(pool)]
    if isinstance(node, list):
        return [_fill(item, pool) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, pool) for key, value in node.items()}
    return node


containers = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4), max_leaves=12
).filter(lambda value: isinstance(value, list | dict))
trees = st.recursive(
    st.one_of(scalars, st.integers(0, 5).map(Shared)),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
    max_leaves=30,
)


@st.composite
def documents(draw: st.DrawFn) -> list[Any]:
    """One to three documents whose parts share objects (lists and mappings the dumper aliases)."""
    pool = draw(st.lists(containers, min_size=1, max_size=4))
    pool.extend(_fill(draw(trees), pool) for _ in range(2))  # shared objects holding shared objects
    return [_fill(draw(trees), pool) for _ in range(draw(st.integers(1, 3)))]


def outcome(read: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", read(text)
    except DocumentTooLarge as exc:
        return "too large", str(exc)
    except (yaml.YAMLError, ValueError) as exc:
        return "error", type(exc).__name__


def same_sharing(ours: Any, theirs: Any) -> bool:
    """The same values, and the same objects where PyYAML gives the same object (an alias)."""
    pairs: dict[int, int] = {}

    def walk(a: Any, b: Any) -> bool:
        if isinstance(a, list | dict):
            if id(a) in pairs:
                return pairs[id(a)] == id(b)
            pairs[id(a)] = id(b)
            items = zip(a, b, strict=True) if isinstance(a, list) else ((a[k], b[k]) for k in a)
            return all(walk(x, y) for x, y in items)
        return True

    return ours == theirs and walk(ours, theirs)


@settings(max_examples=250, deadline=None, derandomize=True)
@given(docs=documents(), style=st.sampled_from(["block", "flow", "canonical"]), explicit=st.booleans())
def test_the_documents_are_the_safe_loaders(docs: list[Any], style: str, explicit: bool) -> None:
    """Block and flow style are read from events; canonical YAML (every value tagged) by the composer."""
    text = yaml.safe_dump_all(
        docs, default_flow_style=style == "flow", canonical=style == "canonical", explicit_start=explicit
    )
    ours = read_documents(text, json_file=False)
    assert same_sharing(ours, _read._read_composed(text))
    composed = [_read._measure_nodes(node) for node in yaml.compose_all(text, Loader=yaml.CSafeLoader)]
    assert document_sizes(text, json_file=False) == composed


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(alphabet=st.sampled_from(list("ab:-&*!<=[]{},'\"#|>\n ?~.1")), max_size=60))
def test_any_text_reads_as_the_composer_reads_it(text: str) -> None:
    ours, theirs = outcome(lambda t: read_documents(t, json_file=False), text), outcome(_read._read_composed, text)
    if ours[0] == "ok" and theirs[0] == "ok":
        assert repr(ours[1]) == repr(theirs[1]) or all(  # nan is never equal to itself
            isinstance(x, float) and math.isnan(x) for x in (ours[1], theirs[1])
        )
    else:
        assert ours[0] == theirs[0], (ours, theirs)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x\nc: [*x, *x]\n",
        "<<: {a: 1}\nb: 2\n",  # a merge key: the composer's way
        "!!set {a, b}\n",
        "a: !!binary aGVsbG8=\n",
        "a: 2024-01-01\nb: 0x1F\nc: 1_000\nd: 0o17\ne: 1:30\nf: .inf\ng: ~\nh: 'yes'\n",
        "= : 1\n",
        "? !!str\n: 1\n",
        "{a: 1}\n--- [1, 2]\n--- s\n",
    ],
)
def test_the_same_values_as_pyyaml(text: str) -> None:
    assert read_documents(text, json_file=False) == list(yaml.load_all(text, Loader=yaml.CSafeLoader))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor"),
        ("a: *y\n", "found undefined alias"),
        ("? [1]\n: 2\n", "found unhashable key"),
        ("a: =\n", "could not determine a constructor"),
        ("a: !foo x\n", "could not determine a constructor"),
        ("a: [\n", "expected"),
    ],
)
def test_what_pyyaml_refuses_is_refused_with_its_message(text: str, message: str) -> None:
    with pytest.raises(yaml.YAMLError, match=message):
        read_documents(text, json_file=False)
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config(text, "apis.yaml")


def _laughs(levels: int, fanout: int = 10) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("merge", [False, True])
def test_a_billion_laughs_is_refused_at_once(merge: bool) -> None:
    text = _laughs(9) + ("m:\n  <<: {a: 1}\n" if merge else "")  # 10**9 values in 400 bytes
    started = time.perf_counter()
    with pytest.raises(DocumentTooLarge, match=f"more than {_read.MAX_VALUES} values"):
        read_documents(text, json_file=False)
    assert time.perf_counter() - started < 5  # stops at the bound, long before a billion
    with pytest.raises(ConfigError, match="YAML aliases count once per use"):
        parse_config(text, "apis.yaml")


def test_the_values_bound_counts_each_alias_once_per_use(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _laughs(3)  # the root and its 3 keys; l0: 1 + 10 values, l1: 1 + 10 * 11, l2: 1 + 10 * 111
    ((values, depth),) = document_sizes(text, json_file=False)
    assert (values, depth) == (4 + 11 + 111 + 1111, 4)
    monkeypatch.setattr(_read, "MAX_VALUES", values)
    assert read_documents(text, json_file=False)[0]["l2"][9][9][0] == "lol"
    monkeypatch.setattr(_read, "MAX_VALUES", values - 1)
    with pytest.raises(DocumentTooLarge):
        read_documents(text, json_file=False)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 200 + "]" * 200 + "\n",
        "".join(f"l{n}: &l{n} [{f'*l{n - 1}' if n else 1}]\n" for n in range(200)),  # deep through aliases
    ],
)
def test_too_deep_is_refused(text: str) -> None:
    with pytest.raises(DocumentTooLarge, match=f"deeper than {_read.MAX_DEPTH} levels"):
        read_documents(text, json_file=False)


def test_a_collection_that_holds_itself_is_refused() -> None:
    with pytest.raises(DocumentTooLarge, match="refers to itself"):
        read_documents("a: &a [1, *a]\n", json_file=False)


def test_an_imported_spec_config_is_read_from_events_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """What import-openapi writes never needs the composer (its node graph is what cost 290 MB)."""
    from custom_api_sidecar.cli import main
    from tests.specs import scale_spec

    spec = scale_spec.write(tmp_path / "spec.json", 60)
    config = tmp_path / "apis.yaml"
    assert main(["import-openapi", str(spec), "--name", "big", "-o", str(config)]) == 0
    monkeypatch.setattr(_read, "_read_composed", lambda text: pytest.fail("read through the composer"))
    (document,) = read_documents(config.read_text(), json_file=False)
    assert len(document["apis"][0]["endpoints"]) == 60
