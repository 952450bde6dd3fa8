#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium (selenium): signs in, waits for the given agents in
the table, opens one, presses "Status now" and checks the result against the API, checks the
events column, and fails on any console warning or error. Saves a screenshot either way.

    .build-venv/bin/python Tests/browser/dashboard_test.py --url http://127.0.0.1:8080 \
        --token TOKEN --agents ID1,ID2,ID3 --screenshot out.png

Exit status 0 when everything held, 1 otherwise (the reason is printed). Run by
Tests/IntegrationTests/DashboardTests.swift against a live master with three agents."""

import argparse
import json
import pathlib
import signal
import sys
import time
import traceback
import urllib.request

# Children of the Swift test runner inherit a signal mask with SIGTERM blocked: unblock it so
# this script (and the browser it starts) can be stopped.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Failure(Exception):
    pass


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def api_get(base, token, path):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


class Console:
    """Every browser console entry seen so far; warnings and errors are failures."""

    def __init__(self, driver):
        self.driver = driver
        self.entries = []

    def collect(self):
        self.entries += self.driver.get_log("browser")
        return self.entries

    def problems(self):
        return [e for e in self.collect() if e.get("level") in ("SEVERE", "WARNING")]

    def check(self, stage):
        problems = self.problems()
        if problems:
            lines = "\n".join(f"  {e['level']}: {e['message']}" for e in problems)
            raise Failure(f"console warnings or errors ({stage}):\n{lines}")


def wait_for(driver, seconds, condition, what):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        raise Failure(f"timed out after {seconds} s waiting for {what}") from None


def run(args, driver, console):
    base = args.url.rstrip("/")
    agents = [a for a in args.agents.split(",") if a]
    if len(agents) == 0:
        raise Failure("no --agents given")
    records = {a: api_get(base, args.token, f"/api/v1/agents/{a}") for a in agents}

    log(f"opening {base}/")
    driver.get(base + "/")
    token_input = wait_for(driver, 10, EC.visibility_of_element_located((By.ID, "token")), "the sign-in form")
    token_input.send_keys(args.token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()

    def all_rows(d):
        rows = {}
        for row in d.find_elements(By.CSS_SELECTOR, "#agents-table tbody tr"):
            rows[row.get_attribute("data-agent-id")] = row
        return rows if all(a in rows for a in agents) else False

    rows = wait_for(driver, 15, all_rows, f"agents {', '.join(agents)} in the table")
    for agent in agents:
        text = rows[agent].text
        hostname = records[agent]["hostname"]
        if hostname not in text or agent[:8] not in text or "online" not in text:
            raise Failure(f"row of {agent} shows {text!r}; expected its hostname {hostname!r}, id and 'online'")
    online = wait_for(driver, 10, lambda d: int(d.find_element(By.CSS_SELECTOR, ".count-online .count-value").text or 0) >= len(agents)
                      and d.find_element(By.CSS_SELECTOR, ".count-online .count-value").text, f"an online count of at least {len(agents)}")
    # Sparklines are drawn once history or live metrics arrived.
    wait_for(driver, 10, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#agents-table svg.spark-cpu polyline")) >= len(agents),
             "a CPU sparkline in every row")
    log(f"table shows {len(agents)} agents, {online} online")
    console.check("overview")
    overview = pathlib.Path(args.screenshot)
    driver.save_screenshot(str(overview.with_name(overview.stem + "-overview" + overview.suffix)))

    target = agents[0]
    rows[target].find_element(By.CSS_SELECTOR, "a.host").click()
    wait_for(driver, 10, EC.url_contains(f"#/agents/{target}"), "the agent's page")
    hostname = wait_for(driver, 10, lambda d: d.find_element(By.CSS_SELECTOR, "dd[data-field=hostname]").text, "the agent's facts")
    if hostname != records[target]["hostname"]:
        raise Failure(f"agent page shows host {hostname!r}, the API says {records[target]['hostname']!r}")
    def cpu_latest(d):
        """The time (ms) of the CPU chart's newest point, once it is drawn. Read in one script:
        the chart is redrawn by every heartbeat, so an element found by one call can be stale by
        the next (a StaleElementReferenceException outside a wait failed CI once)."""
        return int(d.execute_script(
            "const c = document.querySelector('.chart-card svg.chart[data-last]'); return c ? Number(c.dataset.last) : 0"
        ) or 0)

    latest = wait_for(driver, 10, cpu_latest, "the CPU chart")
    # The charts are live: the agent's next heartbeat reaches the page over the event stream.
    wait_for(driver, 10, lambda d: cpu_latest(d) > latest, "a newer point on the CPU chart")
    log(f"CPU chart moved on by {(cpu_latest(driver) - latest) / 1000:.1f} s")

    log("pressing Status now")
    driver.find_element(By.ID, "status-now").click()
    state = wait_for(driver, 30, EC.visibility_of_element_located((By.CSS_SELECTOR, "#status-result [data-field=request-state]")),
                     "the status result").text
    if state != "completed":
        problem = driver.find_element(By.ID, "status-result").text
        raise Failure(f"status request ended {state!r}: {problem}")
    shown = driver.find_element(By.CSS_SELECTOR, "#status-result [data-field=memory-total]")
    expected = (records[target].get("metrics") or {}).get("memory", {}).get("totalBytes")
    if expected is None or shown.get_attribute("data-bytes") != str(expected):
        raise Failure(f"status result shows memory total {shown.get_attribute('data-bytes')!r} ({shown.text}); the agent reports {expected}")
    log(f"status result: memory total {shown.text}")

    # The request's own events (request.dispatched, request.completed) reach the events column.
    wait_for(driver, 10, lambda d: d.find_elements(By.CSS_SELECTOR, "#feed-list li.ev-request.ev-completed"),
             "a request.completed event in the events column")
    events = driver.find_elements(By.CSS_SELECTOR, "#feed-list li")
    log(f"events column lists {len(events)} events; the newest: {events[0].text.replace(chr(10), ' ')!r}")
    console.check("agent page")
    driver.save_screenshot(args.screenshot)
    log(f"screenshot: {args.screenshot}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--agents", required=True, help="comma-separated agent ids")
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()
    started = time.monotonic()

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--disable-gpu", "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    console = None
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        console = Console(driver)
        # The page itself at 1280x800, whatever the window decorations take.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        run(args, driver, console)
        console.check("end")
        log(f"passed in {time.monotonic() - started:.1f} s")
        return 0
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        detail = str(error) if isinstance(error, Failure) else traceback.format_exc()
        print(f"FAILED: {detail}", flush=True)
        if driver is not None:
            try:
                if console is not None:
                    for entry in console.collect():
                        print(f"  console {entry.get('level')}: {entry.get('message')}")
                driver.save_screenshot(args.screenshot)
                print(f"screenshot of the failure: {args.screenshot}")
            except Exception as screenshot_error:  # noqa: BLE001
                print(f"(no screenshot: {screenshot_error})")
        return 1
    finally:
        if driver is not None:
            driver.quit()


if __name__ == "__main__":
    sys.exit(main())
