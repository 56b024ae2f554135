"""Hot config reload: a ConfigMap-style symlink swap (and SIGHUP) under a steady stream of calls.
Add an API, change an operation's path, remove an API, then write a broken file: no call fails
but those the change itself explains, the broken file changes nothing, and unchanged APIs keep
their connection pools and OAuth2 tokens."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

from custom_api_client import connect, errors
from custom_api_sidecar import parse_config
from custom_api_sidecar.app import ReloadRejected
from tests._support.sidecar import start_sidecar
from tests._support.upstream import Upstream

LOCAL = "allow_http: true, private_network: true"


def api(name: str, base: str, path: str = "/items/{item_id}") -> str:
    return f"""
  - name: {name}
    connection: {{{LOCAL}, base_url: "{base}/echo/{name}"}}
    endpoints:
      - {{name: get, method: GET, path: "{path}"}}"""


class ConfigMapDir:
    """A folder laid out as the kubelet lays out a mounted ConfigMap: ``apis.yaml`` is a symlink
    to ``..data/apis.yaml`` and an update swaps the ``..data`` symlink to a new folder at once."""

    def __init__(self, root: pathlib.Path, text: str) -> None:
        self.root = root
        self.version = 0
        self.write(text)
        (root / "apis.yaml").symlink_to("..data/apis.yaml")

    def write(self, text: str) -> None:
        self.version += 1
        folder = self.root / f"..2026_11_24_{self.version:04d}"
        folder.mkdir()
        (folder / "apis.yaml").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(folder.name)
        os.replace(link, self.root / "..data")  # atomic, like the kubelet

    @property
    def path(self) -> pathlib.Path:
        return self.root / "apis.yaml"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def test_reload_under_a_steady_stream_of_calls(tmp_path, upstream: Upstream):
    base = upstream.url
    folder = tmp_path / "config"
    folder.mkdir()
    configmap = ConfigMapDir(
        folder, "apis:" + api("stable", base) + api("moving", base, "/v1/thing") + api("doomed", base)
    )
    socket_path, admin = tmp_path / "s.sock", free_port()
    log = (tmp_path / "sidecar.log").open("w")  # a file, not a pipe: thousands of access lines
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custom_api_sidecar",
            "serve",
            "--config",
            str(configmap.path),
            "--listen",
            f"unix://{socket_path}",
            "--admin-listen",
            f"127.0.0.1:{admin}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stop = threading.Event()
    results = {"calls": 0, "failed": []}

    def stream() -> None:  # the unchanged API, called without pause through every reload
        with connect(f"unix://{socket_path}") as conv:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = conv.api.stable.get(f"i{n}")
                    if response.status_code != 200:
                        results["failed"].append(response.status_code)
                except errors.CustomApiError as exc:
                    results["failed"].append(repr(exc))
                results["calls"] += 1

    try:
        wait_until(socket_path.exists, 30, "the sidecar started")
        caller = threading.Thread(target=stream)
        caller.start()
        with connect(f"unix://{socket_path}") as conv:
            assert conv.api.moving.get().json()["path"] == "/echo/moving/v1/thing"

            # 1. add an API
            configmap.write(
                "apis:"
                + api("stable", base)
                + api("moving", base, "/v1/thing")
                + api("doomed", base)
                + api("added", base)
            )
            wait_until(lambda: "added" in conv.api.list(), what="the new API is served")
            assert conv.api.added.get("x").status_code == 200

            # 2. change an operation's path
            configmap.write(
                "apis:"
                + api("stable", base)
                + api("moving", base, "/v2/thing")
                + api("doomed", base)
                + api("added", base)
            )
            wait_until(lambda: conv.api.moving.get().json()["path"] == "/echo/moving/v2/thing", what="the new path")

            # 3. remove an API: its calls fail as they should, everything else goes on
            configmap.write("apis:" + api("stable", base) + api("moving", base, "/v2/thing") + api("added", base))
            wait_until(lambda: "doomed" not in conv.api.list(), what="the API is gone")
            with pytest.raises(errors.UnknownApi):
                conv.api.doomed.get("x")

            # 4. a broken file changes nothing, and says why
            configmap.write(
                "apis:" + api("stable", base) + "\n  - name: broken\n    connection: {base_url: 'http://x'}\n"
            )

            def rejected() -> bool:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/api/apis", timeout=5) as response:
                    last = json.load(response)["config"]["last_reload"]
                return last is not None and not last["ok"]

            wait_until(rejected, what="the broken file is reported")
            assert set(conv.api.list()) == {"stable", "moving", "added"}
            assert conv.api.moving.get().json()["path"] == "/echo/moving/v2/thing"
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as response:
                metrics = response.read().decode()
            assert 'custom_api_sidecar_config_reloads_total{outcome="applied"} 3' in metrics
            assert 'custom_api_sidecar_config_reloads_total{outcome="rejected"} 1' in metrics

            # 5. SIGHUP reloads too (here: the same broken file, rejected again)
            proc.send_signal(signal.SIGHUP)
            wait_until(
                lambda: (
                    'outcome="rejected"} 2'
                    in urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
                ),
                what="SIGHUP",
            )
        time.sleep(0.5)
    finally:
        stop.set()
        if "caller" in locals():
            caller.join(10)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    stderr = (tmp_path / "sidecar.log").read_text()
    assert results["calls"] > 50, results
    assert results["failed"] == [], results["failed"][:5]
    assert "NOT reloaded (still serving the previous one)" in stderr
    assert "api 'broken': endpoints: must be a non-empty list of operations" in stderr
    print(f"\nreload test: {results['calls']} calls to the unchanged API during 4 reloads, 0 failed")


async def test_unchanged_apis_keep_their_pools_and_tokens(upstream, issuer, protected, monkeypatch):
    monkeypatch.setenv("RELOAD_SECRET", "reload-client-secret")
    oauth = f"""
  - name: billing
    connection: {{{LOCAL}, base_url: "{protected.url}"}}
    authentication:
      type: oauth2
      config: {{token_url: "{issuer.token_url}", client_id: reload-test, client_secret: "env://RELOAD_SECRET"}}
    endpoints: [{{name: me, method: GET, path: /me}}]"""
    first = "apis:" + api("stable", upstream.url) + oauth + api("changing", upstream.url)
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sidecar(first, f"{tmp}/s.sock")
        try:
            sidecar = running.sidecar
            before = sidecar.generation
            fetches = sidecar.authenticators["billing"].fetches
            second = "apis:" + api("stable", upstream.url) + oauth + api("changing", upstream.url, "/other/{item_id}")
            running.run(sidecar.reload(parse_config(second, "apis.yaml")))
            after = sidecar.generation
            assert after is not before
            assert after.transports["stable"] is before.transports["stable"]  # the same pool
            assert after.authenticators["billing"] is before.authenticators["billing"]  # the same token
            assert after.transports["changing"] is not before.transports["changing"]
            assert sidecar.authenticators["billing"].fetches == fetches  # no new token fetch
            with connect(running.unix_target) as conv:
                assert conv.api.billing.me().status_code == 200
            # a new reference that does not resolve rejects the whole config
            third = second.replace('"env://RELOAD_SECRET"', '"env://NOT_SET_ANYWHERE"')
            with pytest.raises(ReloadRejected, match="secret env://NOT_SET_ANYWHERE does not resolve"):
                running.run(sidecar.reload(parse_config(third, "apis.yaml")))
            assert sidecar.generation is after
        finally:
            running.stop()
