"""Headless Debian chromium driven by Selenium through Debian's chromedriver, and the few
Airflow UI moves the browser tests make. Development only."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and nothing that reaches out: this machine's network refuses the background
# connections (updates, sync, field trials) chromium makes otherwise.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")


class Browser:
    """One chromium with a fresh profile; `shot` keeps a screenshot in `artifacts`."""

    def __init__(self, base_url: str, artifacts: Path) -> None:
        self.base_url = base_url
        self.artifacts = artifacts
        artifacts.mkdir(parents=True, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM  # with the driver's path below, Selenium Manager stays idle
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.implicitly_wait(15)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        time.sleep(0.5)  # dialogs fade in
        try:
            self.driver.save_screenshot(str(path))
        except WebDriverException:
            pass  # a screenshot is evidence, never the failure
        return path

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_for_text(self, css: str, text: str, timeout: float = 30) -> WebElement:
        """The first element matching `css` whose text contains `text`, once it does."""
        deadline = time.monotonic() + timeout
        while True:
            for element in self.driver.find_elements(By.CSS_SELECTOR, css):
                try:
                    if text in element.text:
                        return element
                except WebDriverException:
                    continue  # re-rendered meanwhile
            if time.monotonic() > deadline:
                raise AssertionError(f"no {css} shows {text!r} after {timeout:.0f} s")
            time.sleep(0.3)

    def wait_for_message(self, text: str, timeout: float = 30) -> WebElement:
        """The innermost element showing `text`, scrolled into view."""
        self.driver.implicitly_wait(timeout)
        try:
            element = self.driver.find_element(By.XPATH, f"//*[contains(text(), {text!r})]")
        finally:
            self.driver.implicitly_wait(15)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        return element

    # --- a DAG's page -------------------------------------------------------------------

    def dag_docs(self, dag_id: str) -> str:
        """The text of the DAG page's documentation (the "Dag Docs" button's dialog)."""
        self.open(f"/dags/{dag_id}")
        self.find('[data-testid="markdown-button"]').click()
        dialog = self.wait_for_text('[role="dialog"]', "Documentation")
        return dialog.text

    def is_paused_in_ui(self, dag_id: str) -> bool:
        """The DAG page's pause switch: on is running."""
        self.open(f"/dags/{dag_id}")
        switch = self.find('label[data-scope="switch"][data-part="root"]')
        return switch.get_attribute("data-state") != "checked"

    def run_state_in_ui(self, dag_id: str, run_id: str) -> str:
        """The state badge beside the run's name on its page."""
        self.open(f"/dags/{dag_id}/runs/{run_id}")
        badge = self.driver.find_element(
            By.XPATH, f"//h2[normalize-space(.)='{run_id}']/following-sibling::span[@data-testid='state-badge']")
        return badge.text.strip()

    def open_trigger_form(self, dag_id: str) -> None:
        self.open(f"/dags/{dag_id}")
        self.find('[data-testid="trigger-dag-button"]').click()
        self.find('[data-testid="trigger-dag-submit"]')

    def fill(self, param: str, value: str) -> None:
        field = self.find(f'[name="element_{param}"]')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.clear()
        field.send_keys(value)

    def switch_on(self, param: str) -> None:
        switch = self.find(f'[id="switch:element_{param}"]')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", switch)
        if switch.get_attribute("data-state") != "checked":
            switch.click()
        assert switch.get_attribute("data-state") == "checked"

    def set_run_id(self, run_id: str) -> None:
        """The form's Advanced Options: the new run's id."""
        self.find('[id$=":trigger:advancedOptions"]').click()
        field = self.find('[name="dagRunId"]')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.send_keys(run_id)

    def submit(self) -> None:
        button = self.find('[data-testid="trigger-dag-submit"]')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
