"""The dashboard in a real browser (Debian's chromium, headless, driven through
chromedriver) against real ``wdp-node`` processes: every peer of a 3-node swarm
with an RTT, a TTL hop on the page within an epoch of happening, and nothing
without the token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from wdp.client.api import ApiClient

pytestmark = pytest.mark.slow

EPOCH = 4  # seconds: the put asks for it; the nodes' floor is 1 s in these tests
WAIT = 60.0


def chromium(tmp_path: Path):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "the dashboard tests need Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    options = Options()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1700", f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def until(driver, what: str, predicate, timeout: float = WAIT):  # type: ignore[no-untyped-def]
    """Poll the page (another process draws it; there is no event to wait on)."""
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: predicate(d))
    except Exception as exc:
        raise AssertionError(f"timed out waiting for: {what}") from exc


def rows(driver, table: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    script = f"""return [...document.querySelectorAll('#{table} tbody tr')].map(tr => ({{
        data: {{...tr.dataset}}, cells: [...tr.cells].map(td => td.textContent)}}))"""
    return driver.execute_script(script)


def test_the_dashboard_shows_a_live_swarm_and_nothing_without_the_token(
    swarm_factory, tmp_path: Path
) -> None:
    swarm = swarm_factory(3, env={"WDP_DASHBOARD": "127.0.0.1:0"})
    link = subprocess.run(
        [sys.executable, "-m", "wdp.client.cli", "dashboard",
         "--data-dir", str(swarm.nodes[0].data_dir)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    url, _, token = link.partition("#token=")
    assert url.startswith("http://127.0.0.1:") and len(token) >= 16
    assert token == (swarm.nodes[0].data_dir / "api.token").read_text().strip()
    others = {
        ApiClient(node.data_dir / "api.sock").call({"op": "status"})[0]["peer_key"]
        for node in swarm.nodes[1:]
    }

    # Without the token the data endpoints answer 401 and say why.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "api/state", timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error"].startswith("unauthorised")

    driver = chromium(tmp_path)
    try:
        # Without the token: the page asks for it and shows no peer.
        driver.get(url)
        until(driver, "the token form", lambda d: d.find_element("id", "login").is_displayed())
        assert not driver.find_element("id", "main").is_displayed()
        assert rows(driver, "peers") == []
        driver.find_element("id", "token").send_keys("not-the-token-of-this-node")
        driver.find_element("css selector", "#login button").click()
        until(driver, "the refusal", lambda d: "unauthorised" in d.find_element(
            "id", "login-error").text)  # fmt: skip
        assert rows(driver, "peers") == []

        # With it (from the link's fragment, which leaves the address bar): every peer, an RTT.
        driver.get(link)
        until(driver, "both peers with an RTT", lambda d: len(
            [r for r in rows(d, "peers") if r["cells"][2] not in ("", "—")]) == 2)  # fmt: skip
        assert {r["data"]["peer"] for r in rows(driver, "peers")} == others
        assert "token" not in driver.current_url
        assert driver.find_element("id", "threat").text == "CALM"

        # A TTL hop shows up within an epoch of happening.
        answer, _ = ApiClient(swarm.nodes[0].data_dir / "api.sock").call(
            {"op": "put", "name": "watched", "size": 3000, "k": 1, "n": 2, "epoch": EPOCH},
            b"w" * 3000,
        )
        assert answer["ok"]

        def ttl_hop(d):  # type: ignore[no-untyped-def]
            hops = [r for r in rows(d, "hops") if r["data"]["reason"] == "TTL"
                    and r["data"]["ok"] == "true"]  # fmt: skip
            return hops and (time.time(), float(hops[0]["data"]["at"]))

        seen, happened = until(driver, "a TTL hop in the hop log", ttl_hop, timeout=4 * WAIT)
        assert seen - happened < EPOCH
        until(driver, "the wanderer", lambda d: any(
            r["cells"][0] == "watched" for r in rows(d, "wanderers")))  # fmt: skip

        # What the viewer opened (a wanderer's shards) stays open while updates keep coming.
        driver.find_element("css selector", "#wanderers details summary").click()

        def updates(d):  # type: ignore[no-untyped-def]
            return int(d.find_element("tag name", "body").get_attribute("data-updates"))

        before = updates(driver)
        until(driver, "two more updates", lambda d: updates(d) >= before + 2)
        opened = driver.find_elements("css selector", "#wanderers details[open] li")
        assert len(opened) == 2 and all("generation 0, carrier" in li.text for li in opened)
        shots = os.environ.get("WDP_SCREENSHOTS")
        if shots:
            driver.save_screenshot(str(Path(shots) / "dashboard.png"))
    finally:
        driver.quit()
