"""MCP is the ``[mcp]`` extra. Without the SDK, asking for MCP (``custom-api-sidecar mcp``,
``serve --mcp-listen``) stops before anything starts, with an error naming the extra; a sidecar that
serves only gRPC runs without it. The SDK is hidden from a real CLI process the way Python itself
reports an absent module (``sys.modules[name] = None``)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

HIDE_SDK = "import sys; sys.modules['mcp'] = None; sys.modules['mcp_types'] = None"
HINT = "Install it with: pip install 'custom-api-sidecar[mcp]'"
CONFIG = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints:
      - {name: get_contact, method: GET, path: "/contacts/{contact_id}"}
"""


def cli_without_sdk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    code = f"{HIDE_SDK}; from custom_api_sidecar._entry import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def config(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "apis.yaml"
    path.write_text(CONFIG)
    return path


def test_the_mcp_command_names_the_extra(config):
    result = cli_without_sdk("mcp", "--config", str(config))
    assert result.returncode == 2
    assert "custom-api-sidecar mcp needs the MCP SDK, which is not installed (no module 'mcp')" in result.stderr
    assert HINT in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_mcp_listen_names_the_extra_and_listens_nowhere(config, tmp_path):
    socket = tmp_path / "sidecar.sock"
    result = cli_without_sdk(
        "serve", "--config", str(config), "--listen", f"unix://{socket}", "--mcp-listen", "127.0.0.1:0"
    )
    assert result.returncode == 2
    assert "--mcp-listen needs the MCP SDK" in result.stderr and HINT in result.stderr
    assert "Traceback" not in result.stderr
    assert not socket.exists()


def test_the_rest_of_the_cli_works_without_the_sdk(config):
    result = cli_without_sdk("validate", "--offline", str(config))
    assert result.returncode == 0, result.stderr
    assert "crm" in result.stdout
