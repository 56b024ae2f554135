"""A big spec end to end, at a quarter of the benchmark's size (issue 21, item 4).

``python -m bench.large_spec`` measures the full 13 MB, 1,200-operation spec against the targets;
this checks the properties at 300 operations (3.3 MB), in a few seconds: the import writes a
config that loads well inside the loader's bounds (and would at full size), every tool format
gives every operation a unique name of at most 64 characters, the tool export and the MCP tool
list (built from the registry's own objects) equal what DescribeApi answers, and DescribeApi
answers a big API over gRPC even with a small response limit.
"""

from __future__ import annotations

import json
import pathlib
import re
import tempfile
from collections.abc import Iterator

import pytest
import yaml

from custom_api_client import connect
from custom_api_client.discovery import api_dict
from custom_api_sidecar.cli import main
from custom_api_sidecar.describe import Catalog, api_dicts
from custom_api_sidecar.loader import load_config
from custom_api_sidecar.loader._read import MAX_DEPTH, MAX_VALUES, document_sizes
from custom_api_sidecar.registry import Registry
from tests._support.sidecar import start_sidecar
from tests.specs import scale_spec

OPERATIONS = 300
FULL_SIZE = scale_spec.DEFAULT_OPERATIONS
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NAMES = {"openai": lambda t: t["function"]["name"], "anthropic": lambda t: t["name"], "mcp": lambda t: t["name"]}


@pytest.fixture(scope="module")
def imported() -> Iterator[tuple[pathlib.Path, pathlib.Path]]:
    """(spec, the config import-openapi wrote for it)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = scale_spec.write(pathlib.Path(tmp) / "large-openapi.json", OPERATIONS)
        config = pathlib.Path(tmp) / "apis.yaml"
        assert main(["import-openapi", str(spec), "--name", "big", "-o", str(config)]) == 0
        yield spec, config


def test_the_generated_spec_has_the_shape_of_a_big_public_api(imported: tuple[pathlib.Path, pathlib.Path]) -> None:
    spec = json.loads(imported[0].read_text())
    assert len(list(scale_spec.operations_of(spec))) == OPERATIONS
    assert imported[0].stat().st_size > 3_000_000  # about 11 KB an operation, as at full size
    schemas = spec["components"]["schemas"]
    assert len(schemas) > OPERATIONS  # shared definitions, referring to each other:
    (api,) = yaml.load(imported[1].read_text(), Loader=yaml.CSafeLoader)["apis"]
    needed = [len(e["response_schema"].get("$defs", ())) for e in api["endpoints"] if "response_schema" in e]
    assert sum(needed) / len(needed) > 5 and max(needed) > 30  # what one response schema needs
    assert max(len(s.get("enum", ())) for s in schemas.values()) > 300  # big enums
    ids = [op["operationId"] for _, _, op in scale_spec.operations_of(spec)]
    assert len(set(ids)) == len(ids) and max(map(len, ids)) > 64  # longer than a tool name may be


def test_the_imported_config_loads_well_inside_the_loader_bounds(imported: tuple[pathlib.Path, pathlib.Path]) -> None:
    config = imported[1]
    ((values, depth),) = document_sizes(config.read_text(), json_file=False)
    # The count grows with the operations (each carries the definitions it needs): at full size,
    # 1,200 operations, it is about 1.95 million; the bound must leave room for specs this shape
    # up to twice that.
    assert values * FULL_SIZE / OPERATIONS * 2 < MAX_VALUES, values
    assert depth <= 24 < MAX_DEPTH
    registry = Registry(load_config(config), "sandbox")
    assert len(registry.apis["big"].operations) == OPERATIONS


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_every_tool_format_names_every_operation_uniquely_in_64_characters(
    imported: tuple[pathlib.Path, pathlib.Path], fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["tools", "--config", str(imported[1]), "--format", fmt]) == 0
    names = [NAMES[fmt](tool) for tool in json.loads(capsys.readouterr().out)]
    assert len(names) == len(set(names)) == OPERATIONS
    assert all(TOOL_NAME.match(name) for name in names)
    assert max(map(len, names)) == 64  # the long operationIds were shortened, not dropped


def test_the_tool_export_reads_the_registry_as_describe_api_answers(
    imported: tuple[pathlib.Path, pathlib.Path],
) -> None:
    registry = Registry(load_config(imported[1]), "sandbox")
    catalog = Catalog(registry)
    assert api_dicts(registry) == [api_dict(catalog.describe("big").api)]


def test_describe_api_answers_a_big_api_past_the_response_limit(imported: tuple[pathlib.Path, pathlib.Path]) -> None:
    """The answer (9 MB here, 38 MB at full size) is far over this API's response limit plus the
    message overhead (1 MB), which once also capped what the server sent."""
    text = imported[1].read_text() + "  security: {max_response_bytes: 65536}\n"
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(text, f"{tmp}/sidecar.sock")
        try:
            assert sidecar.sidecar.catalog.describe("big").ByteSize() > 4 * 1024 * 1024
            with connect(sidecar.unix_target) as conv:
                tools = conv.api.tools("openai")
            assert len(tools) == OPERATIONS
        finally:
            sidecar.stop()
