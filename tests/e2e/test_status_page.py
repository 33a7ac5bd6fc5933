"""The lab's status page in a real headless browser (issue 11 item 5).

A UE bootstraps and fetches a NAF resource in a lab of the test's own; chromium (driven by
chromedriver through selenium) then loads ``status_url`` from lab.json and must show
every function of lab.json as up, the subscriber, the B-TID of the bootstrap among the
live contexts, and a flow holding the Ub 401. A screenshot goes to the test's tmp_path
and to /tmp/gba-status.png. The page's HTML (as served and as the browser built it) and
``/status.json`` must hold none of the run's key material (K, OPc, RES, CK, IK, Ks,
Ks_NAF: raw, hex or base64, as the log-hygiene test searches the logs). The page is
read-only (POST gets 405), on loopback, refuses another Host, and sends its CSP.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from e2e.labctl import Lab, LabFactory
from e2e.test_log_hygiene import KeyRecordingUsim, forms
from gba.crypto import aka, ua_protocols
from gba.lab import status
from gba.trace.model import TracedMessage
from gba.trace.render import Directory, to_svg
from gba.ue.client import GbaClient

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--window-size=1400,1000")
PAGE_TIMEOUT = 20.0
"""Seconds for a page load, and for the page to show the flow after the bootstrap."""
SCREENSHOT_COPY = Path("/tmp/gba-status.png")

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed")


async def _ue_flow(lab: Lab) -> tuple[str, dict[str, bytes]]:
    """Bootstrap and fetch the NAF's resource; the B-TID and every key the UE saw."""
    sub = lab.subscriber("status-page")
    usim = KeyRecordingUsim(sub, aka.SqnArray())
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        boot = await ue.bootstrap()
        reply = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
        assert reply.status == 200, reply
        keys = {"K": sub.k, "OPc": sub.opc, "Ks": boot.ks,
                "Ks_NAF": ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST).key,
                **usim.secrets}
    return boot.btid, keys


def _browse(url: str, btid: str, screenshot: Path) -> dict[str, Any]:
    """Load the page in headless chromium until it shows *btid* and a flow with a 401;
    save a screenshot; return what the browser saw."""
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        driver.get(url)

        def shows_the_run(d: WebDriver) -> bool:
            flows = d.find_element(By.ID, "flows").text
            if btid in d.find_element(By.ID, "contexts").text and "401" in flows:
                return True
            d.refresh()  # the page refreshes itself every 5 s; no need to wait for it
            return False

        try:
            WebDriverWait(driver, PAGE_TIMEOUT, poll_frequency=0.5).until(shows_the_run)
        except TimeoutException:
            raise AssertionError("the status page did not show the B-TID and a flow with "
                                 f"a 401 within {PAGE_TIMEOUT:g}s:\n"
                                 f"{driver.find_element(By.TAG_NAME, 'body').text}") from None
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(1400, min(max(height + 200, 800), 6000))
        assert driver.save_screenshot(str(screenshot)), "chromium saved no screenshot"
        flows = driver.find_element(By.ID, "flows")
        return {
            "title": driver.title,
            "functions": {row.find_element(By.CSS_SELECTOR, "td:first-child").text:
                          row.find_element(By.CSS_SELECTOR, "td:last-child").text
                          for row in driver.find_elements(By.CSS_SELECTOR,
                                                          "#functions tbody tr")},
            "subscribers": driver.find_element(By.ID, "subscribers").text,
            "contexts": driver.find_element(By.ID, "contexts").text,
            "drawings": [e.text for e in flows.find_elements(By.CSS_SELECTOR, "svg, table")],
            "svgs": len(flows.find_elements(By.TAG_NAME, "svg")),
            "source": driver.page_source,
        }
    finally:
        driver.quit()


@needs_chromium
async def test_status_page_shows_the_lab_and_a_flow_without_key_material(
        lab_factory: LabFactory, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    lab = lab_factory(["status-page"])
    btid, keys = await _ue_flow(lab)
    info: dict[str, Any] = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    url = info["status_url"]
    assert urlsplit(url).hostname == "127.0.0.1"
    assert set(info.get("metrics", {})) == set(info["functions"]), \
        "lab.json names no metrics URL (hence no /status.json) for some functions"

    screenshot = tmp_path / "status.png"
    seen = await asyncio.to_thread(_browse, url, btid, screenshot)
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000, f"a {len(png)}-byte screenshot"
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    print(f"\nstatus page: {seen['title']}; screenshot {screenshot} ({len(png)} bytes), "
          f"copied to {SCREENSHOT_COPY}; {len(seen['drawings'])} flow drawings "
          f"({seen['svgs']} SVG)")

    assert seen["functions"] == {name: "up" for name in info["functions"]}, seen["functions"]
    assert lab.subscriber("status-page").impi in seen["subscribers"]
    assert btid in seen["contexts"]
    assert any("401" in drawing for drawing in seen["drawings"]), seen["drawings"]

    async with http.get(url) as r:
        served = await r.read()
        assert r.status == 200
        assert r.headers["Content-Security-Policy"].startswith(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(url + "status.json") as r:
        assert r.status == 200
        document = await r.read()
    merged = json.loads(document)
    assert {f["name"] for f in merged["functions"]} == set(info["functions"])
    assert any(c["btid"] == btid for c in merged["contexts"])
    assert merged["flows"], "status.json holds no flow"
    texts = {"served page": served, "browser DOM": seen["source"].encode("utf-8"),
             "status.json": document}
    found = [f"{name} in {where}" for name, secret in keys.items() for form in forms(secret)
             for where, text in texts.items() if form in text]
    patterns = sum(len(forms(s)) for s in keys.values())
    print(f"status page hygiene: {len(keys)} key materials ({patterns} patterns) searched "
          f"in {', '.join(texts)}: {len(found)} found")
    assert len(keys) >= 7
    assert not found, f"key material on the status page: {found}"

    async with http.post(url, data=b"x") as r:
        assert r.status == 405
    port = urlsplit(url).port
    async with http.get(url, headers={"Host": f"evil.example:{port}"}) as r:
        assert r.status == 421


def test_both_ends_of_a_message_make_one_arrow_and_pauses_split_flows() -> None:
    t = 1_700_000_000.0
    ue, bsf, hss, bsf_out = "127.0.0.1:50000", "127.0.0.1:8080", "127.0.0.1:3868", \
        "127.0.0.1:40000"
    records: list[dict[str, Any]] = [
        {"time": t, "src": ue, "dst": bsf, "protocol": "HTTP", "summary": "GET /",
         "recorder": "bsf", "direction": "request"},
        {"time": t + 0.01, "src": bsf_out, "dst": hss, "protocol": "Diameter",
         "summary": "MAR", "recorder": "hss"},
        {"time": t + 0.02, "src": bsf_out, "dst": hss, "protocol": "Diameter",
         "summary": "MAR", "recorder": "bsf"},
        {"time": t + 0.03, "src": bsf, "dst": ue, "protocol": "HTTP", "summary": "401",
         "recorder": "bsf", "direction": "response"},
        {"time": t + 0.04, "src": ue, "dst": bsf, "protocol": "HTTP", "summary": "GET /",
         "recorder": "bsf", "direction": "request"},  # again, with the Digest response
        {"time": t + 5, "src": ue, "dst": bsf, "protocol": "HTTP", "summary": "GET /",
         "recorder": "bsf"},
        {"time": "bad", "src": ue},
        {"time": t, "src": ue, "dst": bsf, "protocol": "Gopher", "summary": "x"},
    ]
    parsed = status.parse_recent(records)
    assert len(parsed) == 6
    messages = status.merge_recent(parsed)
    assert [m.summary for m in messages] == ["GET /", "MAR", "401", "GET /", "GET /"]
    assert [len(f) for f in status.split_flows(messages)] == [4, 1]
    assert len(status.split_flows(messages, last=1)) == 1
    # the BSF's client port is learnt from its own record of the MAR, which merging drops
    names = status.names_of(parsed, {bsf: "bsf", hss: "hss"})
    assert names[bsf_out] == "bsf"
    assert ue not in names


def test_the_page_escapes_what_it_shows() -> None:
    evil = "<script>alert(1)</script>"
    now = time.time()
    flow = [{"time": now, "src": "127.0.0.1:1", "dst": "127.0.0.1:2", "src_name": evil,
             "dst_name": evil, "protocol": "HTTP", "summary": evil, "direction": "request",
             "layer": "wire", "recorder": evil}]
    snap = {"generated": now, "dir": evil, "realm": evil, "subscribers": [],
            "functions": [{"name": evil, "kind": "bsf", "network": evil, "realm": evil,
                           "endpoints": {evil: evil}, "state": evil,
                           "peers": [{"host": evil, "state": evil}], "keys_cached": evil}],
            "contexts": [{"function": evil, "btid": evil, "impi": evil, "expires": evil}],
            "flows": [flow, flow]}
    drawing = to_svg([TracedMessage(now, ("127.0.0.1", 1), ("127.0.0.1", 2), "HTTP", evil)],
                     Directory({"127.0.0.1:1": evil}))
    page = status.render(snap, [drawing])  # the first flow drawn, the other as a table
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert page.count("<svg") == 1
    assert page.count("<table>") == 4  # functions, peers, contexts, the second flow
