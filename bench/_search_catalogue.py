"""The catalogue operation search is measured on: the real public specs vendored in
tests/specs/public (Slack's Web API, HubSpot's CRM contacts, the two pet stores: 194 operations),
optionally beside the generated 1,200-operation spec of tests/specs/scale_spec.py (the size of
the largest public APIs), which adds distractors the queries must rank past."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

import yaml

from custom_api_sidecar.loader import load_config
from custom_api_sidecar.policy import OperatorPolicy
from custom_api_sidecar.registry import Registry

REPO = pathlib.Path(__file__).resolve().parents[1]
PUBLIC_SPECS = REPO / "tests" / "specs" / "public"
QUERIES = REPO / "bench" / "search_queries.yaml"
REAL_APIS = {  # api name: (spec file, base URL)
    "slack": ("slack-web-swagger-2.0.json", "https://slack.com/api"),
    "hubspot": ("hubspot-crm-contacts-3.0.json", "https://api.hubapi.com"),
    "petstore": ("petstore-3.0.yaml", "https://petstore.swagger.io/v1"),
    "petstore_expanded": ("petstore-expanded-3.0.yaml", "https://petstore.swagger.io/v2"),
}


def write_config(directory: pathlib.Path, scale_operations: int = 0) -> pathlib.Path:
    """A config importing the real specs (and a generated spec of ``scale_operations``), in ``directory``."""
    apis: list[dict[str, Any]] = []
    for name, (spec, base_url) in REAL_APIS.items():
        shutil.copy(PUBLIC_SPECS / spec, directory / spec)
        apis.append({"name": name, "connection": {"base_url": base_url}, "openapi": {"spec": spec}})
    if scale_operations:
        import sys

        sys.path.insert(0, str(REPO))
        from tests.specs import scale_spec

        scale_spec.write(directory / "scale.json", scale_operations)
        apis.append(
            {
                "name": "platform",
                "connection": {"base_url": "https://api.example.com"},
                "openapi": {"spec": "scale.json"},
            }
        )
    path = directory / "apis.yaml"
    path.write_text(yaml.safe_dump({"apis": apis}, sort_keys=False))
    return path


def load_registry(directory: pathlib.Path, scale_operations: int = 0) -> Registry:
    config = load_config(write_config(directory, scale_operations), OperatorPolicy())
    return Registry(config, "sandbox")


def load_queries(path: pathlib.Path = QUERIES) -> list[tuple[str, set[str]]]:
    """``(query, the api.operation names that answer it)``."""
    entries = yaml.safe_load(path.read_text())["queries"]
    return [(entry["q"], {entry["expect"], *entry.get("also", ())}) for entry in entries]
