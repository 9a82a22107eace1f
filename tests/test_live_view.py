"""The live view in a real browser, looked at the way a person would: while a stress run
goes on, the plot grows, and a planted error burst shows up as an alert.

Headless Chromium (tests/test_browser.py's flags: no network but 127.0.0.1) opens the page
`LiveView` serves for a running `run_stress` (4 users on the basic workflow); after the
plot has updated, the operation starts failing for real (an unknown data size, refused by
the package), and the page must list the raised error-rate alert. A screenshot goes to
artifacts/browser/live-view.png.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from conftest import CHROMEDRIVER, CHROMIUM, require

require("chromium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from geoinfer_workflows.harness import SCENARIOS, AlertEngine, Timeline, run_stress  # noqa: E402
from geoinfer_workflows.harness.live import LiveView  # noqa: E402
from geoinfer_workflows.workflows import run_workflow  # noqa: E402
from tools.asvkit import ROOT  # noqa: E402

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--window-size=1100,760",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)
WAIT_S = 20


def _browser(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_plot_updates_and_an_error_burst_shows_as_an_alert(tmp_path) -> None:
    burst = threading.Event()

    def operation() -> None:
        if burst.is_set():
            run_workflow("basic", "huge", 0)  # type: ignore[arg-type]  # ParameterError
        run_workflow("basic", "seed", 0)

    scenario = replace(SCENARIOS["high_concurrency"], short_duration_s=9.0, short_ramp_up_s=0.5)
    timeline = Timeline(alerts=AlertEngine(window=50))
    reports: list[dict] = []
    driver = _browser(str(tmp_path / "profile"))
    wait = WebDriverWait(driver, WAIT_S)
    try:
        with LiveView(timeline, "stress: live view test") as view:
            run = threading.Thread(
                target=lambda: reports.append(
                    run_stress(operation, scenario, short=True, users=4, timeline=timeline)
                )
            )
            run.start()
            driver.get(view.url)
            points = "return Number(document.getElementById('plot').dataset.points)"
            ops_path = "return document.getElementById('ops').getAttribute('d') || ''"
            wait.until(lambda d: d.execute_script(points) >= 2)
            first_path, first_count = driver.execute_script(ops_path), driver.execute_script(points)
            assert first_path.startswith("M") and " L" in first_path  # a line, not a dot
            wait.until(lambda d: d.execute_script(points) > first_count)  # it updates
            assert driver.execute_script(ops_path) != first_path
            assert driver.find_element("id", "alerts").text == ""  # healthy: no alert yet
            burst.set()
            alert = "return document.querySelector('#alerts li.raised')?.textContent || ''"
            wait.until(lambda d: "high_error_rate" in d.execute_script(alert))
            assert "active: high_error_rate" in driver.find_element("id", "active").text
            shots = ROOT / "artifacts" / "browser"
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / "live-view.png"))
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert severe == []
            run.join(30)
    finally:
        driver.quit()
    (report,) = reports
    assert report["failures"] > 0 and not report["passed"]  # the burst is in the report too
    assert any(e["rule"] == "high_error_rate" for e in report["alert_events"])
