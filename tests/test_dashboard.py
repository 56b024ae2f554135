"""The dashboard in a real headless browser (Debian chromium + chromedriver, driven by selenium):
seed 004's APIs list and API logs from real calls, the filters applied in the page, the table
read back, and a screenshot saved as a test artifact (tests/artifacts/dashboard.png). The page
runs under its strict Content-Security-Policy with no violation in the browser's console; a
DNS-rebound name (Chromium's resolver maps it to 127.0.0.1) gets 403; with an admin token the page
asks for it and works."""

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
from custom_api_sidecar.admin import AdminSettings
from custom_api_sidecar.secrets import build_secret_store, parse_reference
from tests._support.sidecar import ThreadedSidecar, closed_port, start_sidecar
from tests._support.upstream import Upstream

ARTIFACTS = pathlib.Path(__file__).parent / "artifacts"
SECRET = "dashboard-canary-key-8c3d"
ADMIN_TOKEN = "dashboard-admin-token-41b7"
REBOUND = "rebind.attacker.example"  # an attacker's name that now resolves to 127.0.0.1
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
        f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1",  # DNS rebinding, as the browser sees it
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for CSP violations
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def console(browser: webdriver.Chrome) -> list[str]:
    """The console messages since the last call (the browser's log is drained as it is read)."""
    return [entry["message"] for entry in browser.get_log("browser")]


def policy_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Trusted Type" in m or "TrustedScript" in m]


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
    messages = console(browser)
    assert policy_violations(messages) == [], messages
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
    messages = console(browser)  # the filters ran their fetches and redraws: still nothing refused
    assert policy_violations(messages) == [] and not [m for m in messages if "SEVERE" in m], messages


def test_a_violation_would_be_seen(running, browser):
    """The check above can fail: an inline style the policy does not list is refused, and logged."""
    browser.get(running.admin_url + "/")
    wait_rows(browser, "apis", lambda r: len(r) == 3)
    console(browser)
    browser.execute_script(
        "const style = document.createElement('style'); style.textContent = 'body { color: red }';"
        "document.head.appendChild(style);"
    )
    WebDriverWait(browser, 10).until(lambda b: policy_violations(console(b)) or None)


def test_a_rebound_name_gets_403_in_the_browser(running, browser):
    """The attack: a page at rebind.attacker.example, whose name now points at 127.0.0.1, reads the
    dashboard's URLs as its own origin. The browser sends that name; every route refuses it."""
    port = running.admin_url.rsplit(":", 1)[1]
    for path in ("/", "/api/apis", "/api/calls", "/metrics"):
        browser.get(f"http://{REBOUND}:{port}{path}")
        text = browser.find_element(By.TAG_NAME, "body").text
        assert text.startswith("403 Forbidden: this admin listener answers only requests addressed to localhost")
        assert "crm" not in text
    console(browser)


@pytest.fixture(scope="module")
def guarded(upstream) -> Iterator[ThreadedSidecar]:
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start_sidecar(
            config(upstream),
            f"{tmp}/s.sock",
            admin=AdminSettings("127.0.0.1", 0, parse_reference("env://D_ADMIN_TOKEN")),
            secret_store=build_secret_store(environ={"D_KEY": SECRET, "D_ADMIN_TOKEN": ADMIN_TOKEN}),
        )
        with connect(sidecar.unix_target, conversation_id="conv-T") as conv:
            conv.api.crm.get_contact("t1")
        yield sidecar
        sidecar.stop()


def test_with_a_token_the_page_asks_for_it_and_keeps_it_in_memory(guarded, browser):
    browser.get(guarded.admin_url + "/")
    login = browser.find_element(By.ID, "login")
    WebDriverWait(browser, 10).until(lambda _: login.is_displayed())
    assert rows(browser, "apis") == []  # nothing without the token

    browser.find_element(By.ID, "token").send_keys("not-the-token\n")
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "refused").text == "that token was refused")
    assert login.is_displayed()

    browser.find_element(By.ID, "token").send_keys(ADMIN_TOKEN + "\n")
    wait_rows(browser, "apis", lambda r: len(r) == 3 and r[0][6] == "1")  # crm: one call today
    wait_rows(browser, "calls", lambda r: len(r) == 1 and r[0][4] == "conv-T")
    assert not login.is_displayed() and browser.find_element(By.ID, "token").get_attribute("value") == ""
    assert browser.current_url == guarded.admin_url + "/"  # never in a URL
    stored = browser.execute_script("return JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])")
    assert ADMIN_TOKEN not in stored
    messages = console(browser)
    assert policy_violations(messages) == [], messages
    assert all("401" in m for m in messages if "SEVERE" in m), messages  # only the refused fetches


def test_the_page_loads_nothing_from_elsewhere(running):
    with urllib.request.urlopen(running.admin_url + "/", timeout=5) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; ") and "unsafe" not in policy
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
