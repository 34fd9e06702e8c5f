"""The supervisor's dashboard and calls browser in a real browser (Debian chromium): the charts hold the
period's figures (read from the Chart.js objects), a new period redraws them, a call found by its caller
plays its recording. Screenshots go to the test's tmp dir and the artifacts folder (docs/images with
VOICEBOT_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.web.browser import artifacts_dir, click, text_of, wait_for
from tests.web.reports_data import known_day, recorded_call
from tests.web.test_browser import DOCS, sign_in
from voicebot.acd.config import AcdSettings
from voicebot.acd.service import AcdService
from voicebot.web.app import create_app
from voicebot.web.server import WebServer
from voicebot.web.settings import parse_web

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def site(engine: Engine, acd_settings: AcdSettings, acd: AcdService, recordings: Path) -> Iterator[str]:
    settings = parse_web({"secret": "browser-test", "push_seconds": 0.3})
    app = create_app(engine, acd_settings, settings, acd=acd, run_webhooks=False, recordings_dir=recordings)
    server = WebServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()



def shot(driver: Any, tmp_path: Path, name: str) -> None:
    for folder in (tmp_path, artifacts_dir()):
        driver.save_screenshot(str(folder / name))
    assert (tmp_path / name).stat().st_size > 10_000  # a real page, not a blank one
    if os.environ.get("VOICEBOT_UPDATE_SCREENSHOTS") == "1":
        driver.save_screenshot(str(DOCS / name))


def chart_data(driver: Any, canvas: str) -> list[list[Any]]:
    """The datasets a chart draws, as Chart.js holds them."""
    data = driver.execute_script(
        "const c = Chart.getChart(arguments[0]); return c ? c.data.datasets.map(d => d.data) : null;", canvas)
    assert data is not None, f"no chart on #{canvas}"
    return list(data)


def labels(driver: Any, canvas: str) -> list[str]:
    return list(driver.execute_script("return Chart.getChart(arguments[0]).data.labels;", canvas))


def show_period(driver: Any, since: str, until: str) -> None:
    driver.execute_script("document.getElementById('since').value = arguments[0];"
                          "document.getElementById('until').value = arguments[1];", since, until)
    click(driver, "#apply")
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.report || ''").startswith(
        since.replace("T", " ")[:10]) and d.execute_script("return document.body.dataset.report")
        .split("|")[1].startswith(until[:10]) and text_of(d, "#status").endswith("UTC"))


def test_the_dashboard_draws_the_periods_figures_and_a_new_period_redraws_them(
        site: str, browser: Any, engine: Engine, tmp_path: Path) -> None:
    known_day(engine)
    sign_in(browser, site, "sue")
    click(browser, "#nav-dashboard")
    wait_for(browser, lambda d: d.current_url.startswith(f"{site}/supervisor/dashboard"))
    show_period(browser, "2026-11-02T00:00", "2026-11-03T00:00")
    assert text_of(browser, "#status").startswith("6 calls")
    assert labels(browser, "calls-chart") == ["11-02 08:00", "11-02 09:00", "11-02 10:00"]  # the quiet hour too
    calls, served, queued, abandoned = chart_data(browser, "calls-chart")
    assert (calls, served, queued, abandoned) == ([4, 0, 2], [2, 0, 0], [1, 0, 2], [0, 0, 1])
    containment, sl1, sl2 = chart_data(browser, "rates-chart")
    assert containment == [50, None, 0] and sl1 == [100, None, 0] and sl2 == [100, None, 0]
    reached = dict(zip(labels(browser, "funnel-chart"), chart_data(browser, "funnel-chart")[0], strict=True))
    assert reached == {"main_menu": 6, "agent": 3, "hours": 2}
    assert labels(browser, "occupancy-chart") == ["alice"]
    assert chart_data(browser, "occupancy-chart")[0][0] == pytest.approx(1.7, abs=0.05)  # 240 s of 4 h
    assert chart_data(browser, "staffing-chart") == [[1, 1]]
    assert text_of(browser, "#kpi-containment") == "33.3 %" and text_of(browser, "#kpi-sl1") == "33.3 %"
    browser.set_window_size(1360, 1560)  # the whole dashboard in the picture
    shot(browser, tmp_path, "dashboard.png")

    show_period(browser, "2026-11-02T10:00", "2026-11-02T11:00")  # the date range picker reloads the figures
    assert text_of(browser, "#status").startswith("2 calls")
    assert labels(browser, "calls-chart") == ["11-02 10:00"]
    assert chart_data(browser, "calls-chart") == [[2], [0], [2], [1]]
    assert dict(zip(labels(browser, "funnel-chart"), chart_data(browser, "funnel-chart")[0], strict=True)) == {
        "main_menu": 2, "agent": 2}
    assert text_of(browser, "#kpi-calls") == "2" and text_of(browser, "#kpi-containment") == "0 %"
    assert "since=2026-11-02T10%3A00" in browser.current_url or "since=2026-11-02T10:00" in browser.current_url


def test_the_calls_browser_finds_a_call_by_caller_and_its_page_plays_the_recording(
        site: str, browser: Any, engine: Engine, recordings: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    known_day(engine)
    call = recorded_call(engine, tmp_path, recordings)
    sign_in(browser, site, "sue")
    click(browser, "#nav-calls")
    wait_for(browser, lambda d: d.current_url.startswith(f"{site}/supervisor/calls"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.call-row")) == 7
    shot(browser, tmp_path, "calls-browser.png")
    browser.find_element(By.ID, "caller").send_keys("0100001")
    click(browser, "#find")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.call-row")) == 1)
    assert browser.find_element(By.CSS_SELECTOR, "tr.call-row").get_attribute("data-call") == call.call_id
    click(browser, "tr.call-row a")
    wait_for(browser, lambda d: d.current_url.endswith(f"/supervisor/calls/{call.call_id}"))
    assert "ask_pin" in text_of(browser, "#timeline") and "keys ***" in text_of(browser, "#transcript")
    duration = wait_for(browser, lambda d: d.execute_script(
        "const a = document.getElementById('recording'); return a.readyState >= 1 && a.duration > 0 ? a.duration : 0;"))
    assert duration == pytest.approx(len(call.secure) * 0.02, abs=0.05)
    played = browser.execute_async_script(  # it plays: the position moves
        "const done = arguments[arguments.length - 1]; const a = document.getElementById('recording');"
        "a.muted = true; a.play().then(() => setTimeout(() => done(a.currentTime), 600), e => done('' + e));")
    assert isinstance(played, float | int) and played > 0, played
    browser.execute_script("const a = document.getElementById('recording');"
                           "a.pause(); a.currentTime = 0; a.muted = false;")
    browser.set_window_size(1360, 1200)
    shot(browser, tmp_path, "call-page.png")
