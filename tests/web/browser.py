"""Real browser helpers: Debian's chromium driven by Selenium through /usr/bin/chromedriver (nothing is
downloaded), and the web app served by uvicorn on a free loopback port."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def artifacts_dir() -> Path:
    """Screenshots go here: VOICEBOT_TEST_ARTIFACTS, else a folder under the system temp dir."""
    import tempfile

    folder = Path(os.environ.get("VOICEBOT_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "voicebot-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium() -> Any:
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver are missing: scripts/setup.sh installs them")
        pytest.skip("Debian chromium/chromium-driver not installed (scripts/setup.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: CSP violations, JS errors
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = 30.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def text_of(driver: Any, css: str) -> str:
    """The element's visible text, read in one step (live regions are swapped under our feet)."""
    found = driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                                  css)
    return str(found or "").strip()


def present(driver: Any, css: str) -> bool:
    return bool(driver.execute_script("return document.querySelector(arguments[0]) !== null;", css))


def click(driver: Any, css: str) -> None:
    """Click the element as it is now, retrying when a live update replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt(d: Any) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
        except StaleElementReferenceException:
            return False
        return True

    wait_for(driver, attempt, timeout=10)


def page_errors(driver: Any) -> list[str]:
    """Severe messages of the browser console so far (script errors, blocked by the CSP...)."""
    return [str(entry["message"]) for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
            and "401" not in str(entry["message"])]  # an expired session's heartbeat answers 401 on purpose
