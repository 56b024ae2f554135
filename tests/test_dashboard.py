"""The dashboard in a real headless browser (Debian chromium + chromedriver, driven by selenium):
seed 004's APIs list and API logs from real calls, the filters applied in the page, the table
read back, and a screenshot saved as a test artifact (tests/artifacts/dashboard.png)."""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from custom_api_client import connect, errors
from custom_api_sidecar.activity import ConnectionResult
from custom_api_sidecar.secrets import build_secret_store
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

ARTIFACTS = pathlib.Path(__file__).parent / "artifacts"
SECRET = "dashboard-canary-key-8c3d"
EMPTY = "\u2013"  # what the page shows for no value


def config(upstream: Upstream) -> str:
    return f"""
apis:
  - name: crm
    display_name: Internal CRM API
    connection: {{allow_http: true, private_network: true, base_url: "{upstream.url}"}}
    authentication: {{type: api_key, config: {{header_name: X-API-Key, key: "env://D_KEY"}}}}
    endpoints:
      - {{name: get_contact, method: GET, path: "/echo/contacts/{{contact_id}}"}}
      - {{name: status, method: GET, path: "/status/{{code}}"}}
  - name: erp
    display_name: Legacy ERP
    connection: {{allow_http: true, private_network: true, base_url: "http://127.0.0.1:{closed_port()}",
                  timeout_ms: 2000}}
    endpoints: [{{name: ping, method: GET, path: /ping}}]
  - name: inventory
    connection: {{base_url: "https://inventory.example.com"}}
    endpoints: [{{name: list_items, method: GET, path: /items}}]
"""


@pytest.fixture(scope="module")
def running(upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            admin=("127.0.0.1", 0),
            secret_store=build_secret_store(environ={"D_KEY": SECRET}),
        )
        with connect(sidecar.unix_target, conversation_id="conv-A") as conv:
            for n in range(3):
                conv.api.crm.get_contact(f"c{n}")
            conv.set_context(conversation_id="conv-B")
            conv.api.crm.status(404)
            with pytest.raises(errors.ConnectionRefused):
                conv.api.erp.ping()
        sidecar.sidecar.connection_status.record(
            ConnectionResult(
                "erp", ok=False, checked_at=time.time(), summary="base URL unreachable: connection refused"
            )
        )
        yield sidecar
        sidecar.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "tests/run.sh installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def rows(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    """The table's cells, read in one script run (the page re-renders its tables every 5 s)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map("
        "row => Array.from(row.cells).map(cell => cell.innerText.trim()))",
        f"#{table} tbody tr",
    )


def wait_rows(browser: webdriver.Chrome, table: str, predicate) -> list[list[str]]:
    found: list[list[str]] = []

    def ready(_: object) -> bool:
        nonlocal found
        found = rows(browser, table)
        return bool(predicate(found))

    WebDriverWait(browser, 10).until(ready, message=lambda: f"{table} table: {found}")
    return found


def test_the_apis_list(running, browser):
    browser.get(running.admin_url + "/")
    apis = wait_rows(browser, "apis", lambda r: len(r) == 3)
    by_name = {row[0]: row for row in apis}
    crm = by_name["Internal CRM API (crm)"]
    assert crm[1:8] == ["connected", "127.0.0.1", "api_key", "2", crm[5], "4", "75.0%"]
    assert crm[5].endswith("Z")  # last used
    assert crm[10] == "HTTP 404: 1"
    erp = by_name["Legacy ERP (erp)"]
    assert erp[1] == "failing" and erp[10] == "CONNECTION_REFUSED: 1"
    assert by_name["inventory"][1:3] == ["unknown", "inventory.example.com"]
    assert by_name["inventory"][5] == EMPTY  # never used


def test_the_logs_view_and_its_filters(running, browser):
    browser.get(running.admin_url + "/")
    everything = wait_rows(browser, "calls", lambda r: len(r) == 5)
    assert [row[1] for row in everything] == ["erp.ping", "crm.status", *["crm.get_contact"] * 3]  # newest first
    assert everything[0][2] == "CONNECTION_REFUSED" and everything[1][2] == "404"
    assert all(len(row[5]) == 32 or row[5] == EMPTY for row in everything)  # trace id column

    Select(browser.find_element(By.ID, "endpoint")).select_by_value("crm")
    assert {row[1] for row in wait_rows(browser, "calls", lambda r: len(r) == 4)} == {"crm.get_contact", "crm.status"}

    Select(browser.find_element(By.ID, "status")).select_by_value("error")
    (failed,) = wait_rows(browser, "calls", lambda r: len(r) == 1)
    assert failed[1:3] == ["crm.status", "404"] and failed[4] == "conv-B"

    Select(browser.find_element(By.ID, "status")).select_by_value("")
    browser.find_element(By.ID, "conversation").send_keys("conv-A")
    assert {row[4] for row in wait_rows(browser, "calls", lambda r: len(r) == 3)} == {"conv-A"}

    Select(browser.find_element(By.ID, "window")).select_by_value("5m")
    assert len(wait_rows(browser, "calls", lambda r: len(r) == 3)) == 3

    browser.find_element(By.ID, "conversation").clear()
    Select(browser.find_element(By.ID, "endpoint")).select_by_value("")
    wait_rows(browser, "calls", lambda r: len(r) == 5)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def test_the_page_loads_nothing_from_elsewhere(running):
    with urllib.request.urlopen(running.admin_url + "/", timeout=5) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "http://" not in page and "https://" not in page  # no external assets


def test_the_json_never_shows_a_secret(running):
    for path in ("/api/apis", "/api/calls", "/metrics", "/"):
        with urllib.request.urlopen(running.admin_url + path, timeout=5) as response:
            text = response.read().decode()
        assert SECRET not in text


def test_a_bad_window_is_a_clear_error(running):
    try:
        urllib.request.urlopen(running.admin_url + "/api/calls?window=1d", timeout=5)
    except urllib.error.HTTPError as err:
        assert err.code == 400
        assert json.loads(err.read()) == {"error": "window must be one of 5m, 1h, 24h, all"}
    else:
        pytest.fail("a bad window was accepted")
