"""`custom-api-sidecar import-openapi`: the file it writes, what it prints, what it refuses."""

from __future__ import annotations

import http.server
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from custom_api_sidecar.cli import main
from custom_api_sidecar.loader import load_config

SHARED_SPECS = pathlib.Path(__file__).parent / "specs" / "public"  # the real public specs
SPECS = pathlib.Path(__file__).parent / "specs"
CLI = shutil.which("custom-api-sidecar") or str(pathlib.Path(sys.executable).parent / "custom-api-sidecar")


def test_end_to_end_writes_a_config_that_validate_accepts(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "apis.yaml"
    spec = SHARED_SPECS / "petstore-expanded-3.0.yaml"
    imported = subprocess.run(
        [CLI, "import-openapi", str(spec), "--name", "pets", "-o", str(out)], capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == ""
    assert "4 operations in the spec: 4 imported, 0 excluded by include/exclude, 0 skipped" in imported.stderr
    assert f"wrote {out}" in imported.stderr
    validated = subprocess.run([CLI, "validate", str(out), "--offline"], capture_output=True, text=True, timeout=60)
    assert validated.returncode == 0, validated.stderr
    assert "OK: 1 APIs, 4 operations" in validated.stdout
    text = out.read_text()
    assert text.startswith("# Imported by `custom-api-sidecar import-openapi` from")
    (api,) = yaml.safe_load(text)["apis"]
    assert list(api) == ["name", "description", "connection", "endpoints"]
    assert list(api["endpoints"][0])[:4] == ["name", "description", "method", "path"]


def test_output_is_deterministic_and_shares_defs_by_name(tmp_path: pathlib.Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    spec = str(SPECS / "multi" / "openapi.yaml")
    assert main(["import-openapi", spec, "--name", "pets", "-o", str(first)]) == 0
    assert main(["import-openapi", spec, "--name", "pets", "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert "Pet: &Pet" in text and "Pet: *Pet" in text  # a def written once, then referred to
    assert "&id0" not in text  # no anonymous anchors
    config = load_config(first)
    get = {e.name: e for e in config.apis[0].endpoints}["get_pet_by_id"]
    assert set(get.response_schema["$defs"]) == {"NewPet", "Pet", "Tag"}


def test_refuses_to_overwrite_without_force(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "apis.yaml"
    out.write_text("keep me")
    spec = str(SHARED_SPECS / "petstore-3.0.yaml")
    assert main(["import-openapi", spec, "--name", "pets", "-o", str(out)]) == 2
    assert "exists; pass --force to overwrite it" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["import-openapi", spec, "--name", "pets", "-o", str(out), "--force"]) == 0
    assert "list_pets" in out.read_text()


def test_summary_lists_skipped_operations_and_warnings(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bookings.yaml"
    assert main(["import-openapi", str(SPECS / "openapi-3.1.yaml"), "--name", "bookings", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "OpenAPI 3.1.0, 10 operations in the spec: 8 imported, 0 excluded by include/exclude, 2 skipped" in err
    assert "skipped trace_booking (TRACE /bookings/{booking-id}): method TRACE is not supported" in err
    assert "warning: bookings_get: cookie parameter 'session' skipped" in err
    text = out.read_text()
    assert "client_secret: vault://secret/{environment}/bookings#client_secret" in text
    assert "# authentication: point each secret reference at your secret store" in text
    assert main(["validate", str(out), "--offline"]) == 0  # the skeleton is a valid oauth2 authentication
    assert "OK: 1 APIs, 8 operations" in capsys.readouterr().out


def test_include_exclude_and_base_url(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(SPECS / "swagger-2.0.yaml")
    out = tmp_path / "files.yaml"
    assert main(["import-openapi", spec, "--name", "files", "-o", str(out)]) == 1
    assert "the spec names no usable server; give --base-url URL" in capsys.readouterr().err
    assert not out.exists()
    args = ["import-openapi", spec, "--name", "files", "--base-url", "https://files.example.com/v1", "-o", str(out)]
    assert main([*args, "--include", "files", "--exclude", "upload_file"]) == 0
    (api,) = yaml.safe_load(out.read_text())["apis"]
    assert [e["name"] for e in api["endpoints"]] == ["list_files"]
    assert api["connection"] == {"base_url": "https://files.example.com/v1"}
    assert main([*args, "--force", "--include", "nothing"]) == 1
    assert "include 'nothing' matches no tag, operation name or operationId" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--name", "Pets"], "--name 'Pets' must be a snake_case identifier"),
        (["--name", "list"], "--name 'list' must be a snake_case identifier"),
        (["--name", "pets", "--base-url", "ftp://x"], "--base-url 'ftp://x' must be an absolute http(s) URL"),
    ],
)
def test_bad_arguments(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "apis.yaml"
    assert main(["import-openapi", str(SHARED_SPECS / "petstore-3.0.yaml"), *extra, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_invalid_spec_is_a_clear_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "apis.yaml"
    assert main(["import-openapi", str(SPECS / "broken-ref.yaml"), "--name", "b", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("custom-api-sidecar import-openapi: ")
    assert "broken $ref '#/components/schemas/Missing'" in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.fixture(scope="module")
def spec_server() -> Iterator[str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(SHARED_SPECS), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_url_needs_allow_private_network_on_loopback(
    spec_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "apis.yaml"
    url = f"{spec_server}/petstore-3.0.yaml"
    assert main(["import-openapi", url, "--name", "pets", "-o", str(out)]) == 1
    assert "plain http is refused" in capsys.readouterr().err
    assert main(["import-openapi", url, "--name", "pets", "-o", str(out), "--allow-http"]) == 1
    assert "127.0.0.1, a loopback address" in capsys.readouterr().err
    allowed = ["--allow-http", "--allow-private-network"]
    assert main(["import-openapi", url, "--name", "pets", "-o", str(out), *allowed]) == 0
    assert [e.name for e in load_config(out).apis[0].endpoints] == ["list_pets", "create_pets", "show_pet_by_id"]
