"""The published history in a real browser with the network off.

The planted history's html/ (tests/asv_helpers.py: eight commits, two machines, published,
made offline by `asv publish` itself through the plugin asv_offline_pages.py, then by
tools.offline_html again, which changes nothing) is served on 127.0.0.1 and opened in
headless Chromium (Debian's chromium + chromium-driver, driven by selenium). Chromium
resolves no host name but 127.0.0.1 and sends everything else to a dead proxy, so a page
that needs a CDN cannot load it: asv's own template pages are the control that shows this.

Screenshots go to artifacts/browser/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CHROMEDRIVER, CHROMIUM, require

require("asv", "chromium")
import asv  # noqa: E402
from asv_helpers import (  # noqa: E402
    BASIC_SEED,
    CPU_BENCH,
    MACHINE,
    OTHER_MACHINE,
    PEAK_BENCH,
    PlantedHistory,
)
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tools.asvkit import ROOT as REPO_ROOT  # noqa: E402

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
# Headless, as root, no first-run or background traffic; and no network but loopback:
# every host name but 127.0.0.1 fails to resolve, and any other request goes to a proxy
# on a closed port (IP-literal URLs included).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)
WAIT_S = 30
ASV_WWW = Path(asv.__file__).parent / "www"


@pytest.fixture(scope="module")
def history(planted_history: PlantedHistory) -> PlantedHistory:
    return planted_history


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A static file server for `directory` on 127.0.0.1 (any free port), in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, script: str, what: str):
    """Poll a JavaScript expression until it is truthy; its value, or a clear failure
    with a screenshot of what the page showed instead."""
    try:
        return WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(script))
    except TimeoutException:
        shot = ARTIFACTS / f"timeout-{what}.png"
        driver.save_screenshot(str(shot))
        pytest.fail(f"page never showed {what} (url {driver.current_url}; see {shot})")


def graph_series(driver: webdriver.Chrome, what: str, *, min_lines: int = 1) -> list:
    """Wait until the page's graph (asv's flot plot) draws at least `min_lines` lines;
    then [label, number of points with a value] for each line."""
    script = (
        "var p = $('#main-graph').data('plot'); if (!p) return null;"
        " var s = p.getData().map(function(s) { return [s.label,"
        " s.data.filter(function(d) { return d[1] !== null; }).length]; });"
        f" return s.length >= {min_lines:d} ? s : null;"
    )
    return wait_for(driver, script, what)


def requested_urls(driver: webdriver.Chrome) -> set[str]:
    """Every URL the page asked for since the last call (Chromium's network log)."""
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def open_page(driver: webdriver.Chrome, url: str) -> None:
    driver.get("about:blank")  # a hash change alone would not reload the page
    requested_urls(driver)
    console_errors(driver)
    driver.get(url)


def stock_pages(published: Path, target: Path) -> Path:
    """`published` with asv's own pages (its www/ template, CDN links) and no vendor/:
    what `asv publish` left before the plugin asv_offline_pages made it offline."""
    shutil.copytree(published, target, ignore=shutil.ignore_patterns("vendor"))
    for page in ASV_WWW.glob("*.html"):
        shutil.copyfile(page, target / page.name)
    return target


def test_stock_page_needs_the_network(browser, history: PlantedHistory, tmp_path) -> None:
    """The control: asv's own page, as its template publishes it, cannot render here."""
    with serve(stock_pages(history.stock_html, tmp_path / "stock")) as base:
        open_page(browser, base + "index.html")
        wait_for(browser, "return location.pathname.endsWith('error.html')", "error.html")
        assert browser.save_screenshot(str(ARTIFACTS / "stock-page-offline.png"))
        assert "failed to load" in browser.find_element("tag name", "body").text
        asked = requested_urls(browser)
    assert any("code.jquery.com" in url for url in asked), asked


def test_benchmark_list_shows_the_suite(browser, history: PlantedHistory) -> None:
    html = history.project.html_dir
    suite = json.loads((html / "index.json").read_text())["benchmarks"]
    with serve(html) as base:
        open_page(browser, base + "index.html")
        wait_for(browser, "return document.body.innerText.includes('bench_workflows')", "grid")
        assert browser.save_screenshot(str(ARTIFACTS / "benchmark-grid.png"))
        grid = browser.find_element("tag name", "body").text
        # The grid lists every benchmark of the suite, as module then Class.method.
        for name in suite:
            module, rest = name.split(".", 1)
            assert module in grid and rest in grid, name
        assert len(suite) >= 10

        open_page(browser, base + "index.html#/summarylist")
        rows = wait_for(
            browser,
            "var r = $('#summarylist-body table tbody tr:visible');"
            " return r.length ? r.map(function() {"
            " return $(this).text().replace(/\\s+/g, ' '); }).get() : null;",
            "benchmark list rows",
        )
        assert browser.save_screenshot(str(ARTIFACTS / "benchmark-list.png"))
        asked = requested_urls(browser)
        errors = console_errors(browser)
    measured = [r for r in rows if CPU_BENCH in r and "'basic', 'seed'" in r]
    assert measured, rows
    # The latest value with its unit, and the commit of the fitted line's last step
    # (however small: the Regressions page is the one that applies the thresholds).
    assert re.search(r"\d ?ms", measured[0]), measured
    assert any(h[:8] in measured[0] for h in history.commits), measured
    assert all(url.startswith(base) or url.startswith("data:") for url in asked), asked
    assert any("/vendor/jquery/" in url for url in asked)
    assert not errors, errors  # an integrity mismatch or a missing file would show here


def test_workflow_graph_has_points(browser, history: PlantedHistory) -> None:
    html = history.project.html_dir
    graph = f"index.html#{CPU_BENCH}?p-workflow=%27basic%27&p-size=%27seed%27"
    with serve(html) as base:
        open_page(browser, base + graph)
        series = graph_series(browser, "graph series", min_lines=2)
        assert browser.save_screenshot(str(ARTIFACTS / "workflow-graph.png"))
        errors = console_errors(browser)
    points = {label: n for label, n in series}
    assert not errors, errors
    # One line per machine, each with every commit that machine measured.
    on_a = [n for label, n in points.items() if f"machine-{MACHINE};" in label]
    on_b = [n for label, n in points.items() if f"machine-{OTHER_MACHINE};" in label]
    assert on_a == [len(history.commits)], points
    assert on_b == [len(history.other_machine_commits)], points
    assert min(points.values()) >= 2


def test_regressions_page_lists_the_regression(browser, history: PlantedHistory) -> None:
    with serve(history.project.html_dir) as base:
        open_page(browser, base + "index.html#/regressions")
        rows = wait_for(
            browser,
            "var r = $('#regressions-body table tbody tr:visible');"
            " return r.length ? r.map(function() {"
            " return $(this).text().replace(/\\s+/g, ' '); }).get() : null;",
            "regression rows",
        )
        assert browser.save_screenshot(str(ARTIFACTS / "regressions.png"))
    slow = [r for r in rows if CPU_BENCH + BASIC_SEED in r and history.slow[:8] in r]
    memory = [r for r in rows if PEAK_BENCH + BASIC_SEED in r and history.memory[:8] in r]
    assert slow, rows
    assert memory, rows


def test_plain_publish_renders_offline(browser, history: PlantedHistory) -> None:
    """The planted history as a plain `asv publish` leaves it (the plugin in asv.conf.json
    made it offline; tools/offline_html.py did not run after it): the grid renders with
    the network off and every request stays on the local server."""
    with serve(history.stock_html) as base:
        open_page(browser, base + "index.html")
        wait_for(browser, "return document.body.innerText.includes('bench_workflows')", "grid")
        assert browser.save_screenshot(str(ARTIFACTS / "plain-publish-grid.png"))
        asked = requested_urls(browser)
        errors = console_errors(browser)
        assert not browser.current_url.endswith("error.html")
    assert all(url.startswith(base) or url.startswith("data:") for url in asked), asked
    assert any("/vendor/jquery/" in url for url in asked)
    # The grid asks for a summary of every benchmark of the suite; the planted history
    # measured two, so the others 404. Anything else (an asset, an integrity) is a failure.
    assert [e for e in errors if "/graphs/summary/" not in e or "404" not in e] == [], errors


def test_docs_screenshot_is_a_workflow_graph() -> None:
    """docs/img/workflow-graph.png is the screenshot this file takes (copied by hand after
    looking at it), so the README shows what the page really looks like offline."""
    doc = REPO_ROOT / "docs" / "img" / "workflow-graph.png"
    assert doc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc.stat().st_size > 20_000
