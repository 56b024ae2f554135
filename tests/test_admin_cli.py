"""``serve --admin-token REF`` (or CUSTOM_API_SIDECAR_ADMIN_TOKEN) in the real process: the
reference is resolved through the secret store, a literal is refused without being echoed, and
an admin listener exposed beyond loopback without a token is warned about."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

from tests._support.processes import SidecarProcess, free_port

TOKEN = "cli-admin-token-canary-90d4"
CONFIG = """
apis:
  - name: crm
    connection: {base_url: "https://crm.example.com"}
    endpoints: [{name: ping, method: GET, path: /ping}]
"""


def status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_token_reference_from_the_environment(tmp_path):
    (tmp_path / "apis.yaml").write_text(CONFIG)
    port = free_port()
    proc = SidecarProcess(
        tmp_path / "apis.yaml",
        tmp_path / "s.sock",
        extra_args=["--admin-listen", f"127.0.0.1:{port}"],
        env={"CUSTOM_API_SIDECAR_ADMIN_TOKEN": "env://ADMIN_T", "ADMIN_T": TOKEN},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert status(f"{base}/metrics") == 401
        assert status(f"{base}/metrics", "wrong") == 401
        assert status(f"{base}/metrics", TOKEN) == 200
        assert status(f"{base}/api/apis", TOKEN) == 200
        assert status(f"{base}/") == 200  # the page shell, which then asks for the token
    finally:
        proc.stop()
    assert TOKEN not in proc.output
    assert "secret env://ADMIN_T: resolved" in proc.output  # read by the store like any reference


def test_a_literal_token_is_refused_and_not_echoed(tmp_path):
    (tmp_path / "apis.yaml").write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "custom_api_sidecar", "serve", "--config", str(tmp_path / "apis.yaml"),
         "--listen", f"unix://{tmp_path}/s.sock", "--admin-listen", "127.0.0.1:0", "--admin-token", TOKEN],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--admin-token: is not a secret reference; write vault://" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_an_exposed_listener_without_a_token_is_warned_about(tmp_path):
    (tmp_path / "apis.yaml").write_text(CONFIG)
    port = free_port()
    proc = SidecarProcess(
        tmp_path / "apis.yaml",
        tmp_path / "s.sock",
        extra_args=["--admin-listen", f"0.0.0.0:{port}", "--allow-remote"],
    )
    try:
        assert status(f"http://127.0.0.1:{port}/metrics") == 200  # no token: the Host check alone
    finally:
        proc.stop()
    assert f"the admin listener on 0.0.0.0:{port} is reachable beyond this host without a token" in proc.output
