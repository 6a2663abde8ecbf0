"""Browser journeys in Debian's Chromium driven by Playwright, against the demo served on
loopback: log in, record an event, trace a batch and see the faulty link, place and
confirm an order, run the audit. Each journey saves a screenshot (into docs/screenshots/ with
SUPPLYLEDGER_SCREENSHOTS=1).

Chromium is never downloaded (no ``playwright install``): the tests use /usr/bin/chromium,
which ``scripts/setup.sh`` installs. Without it they skip, except in CI (``CI=true``),
where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _serving import DemoServed, browser_fixture, demo_fixture, log_in

from .conftest import CHEAP

pytestmark = pytest.mark.browser

# The docs' screenshots are refreshed on request only, so a test run leaves the tree as it
# found it; otherwise they go to a temporary folder (still taken: the page must render).
SHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
         if os.environ.get("SUPPLYLEDGER_SCREENSHOTS") == "1"
         else Path(tempfile.gettempdir()) / "supplyledger-screenshots")


served = demo_fixture("demo", weeks=3, api=CHEAP)
browser = browser_fixture()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    p = ctx.new_page()
    yield p
    ctx.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, served: DemoServed, login: str) -> None:
    log_in(page, served.url, login, served.password(login))


def test_log_in_and_see_the_dashboard(page: Any, served: DemoServed) -> None:
    page.goto(served.url + "/")
    assert "/login" in page.url
    page.get_by_label("Login").fill("mill")
    page.get_by_label("Password").fill("wrong password")
    _shot(page, "login")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("unknown login")
    _login(page, served, "mill")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.locator("svg.chart").count() >= 3
    _shot(page, "dashboard")


def test_record_an_event(page: Any, served: DemoServed) -> None:
    _login(page, served, "inspector")
    page.get_by_role("navigation", name="Main").get_by_role("link",
                                                            name="Record event").click()
    page.get_by_role("link", name="Quality inspection").click()
    wheat = served.service.reads.rows("batches", 1, None, {"gtin": "06901234000016"}).items[0]
    page.get_by_label("Batch").fill(wheat["id"])
    page.locator("#r1t").select_option("RelativeHumidity")
    page.locator("#r1v").fill("13")
    page.get_by_label("Note").fill("re-test after rain: within limits")
    page.get_by_role("button", name="Sign and record").click()
    ok = page.locator("#event-ok")
    ok.wait_for()
    assert "Recorded as event" in ok.inner_text()
    _shot(page, "record-event")


def test_trace_a_batch_and_see_the_faulty_link(page: Any, served: DemoServed) -> None:
    _login(page, served, "inspector")
    lot = served.info.faulty_lot.rsplit("/", 1)[-1]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Trace").click()
    page.get_by_label("Batch number").fill(lot)
    page.get_by_role("button", name="Query").click()
    summary = page.locator("#faulty-summary")
    summary.wait_for()
    text = summary.inner_text()
    assert "Faulty link: processing" in text and lot in text
    faulty = page.locator("li.link.faulty").first
    assert "stored data disagrees with the ledger" in faulty.inner_text()
    colour = faulty.locator(".mark").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(185, 28, 28)"  # the faulty link is red
    _shot(page, "trace-faulty-link")
    page.locator("li.link.faulty details summary").first.click()
    with page.expect_navigation():
        page.locator("li.link.faulty a[href^='/explorer/tx/']").first.click()
    assert "Proof valid" in page.locator("#proof").inner_text()
    _shot(page, "transaction-proof")


def test_place_and_confirm_an_order(page: Any, served: DemoServed) -> None:
    if "orders" not in served.service.contracts:
        pytest.skip("the orders contract is not deployed")
    with served.api("supplier-a") as supplier, served.api("courier") as courier:
        _place_and_confirm(page, served, supplier, courier)


def _place_and_confirm(page: Any, served: DemoServed, supplier: httpx.Client,
                       courier: httpx.Client) -> None:
    seller = supplier.get("/api/auth/me").json()["did"]
    gtin = served.service.reads.rows("products", 10, None, {"owner": seller}).items[0]["gtin"]
    _login(page, served, "customer")
    page.goto(served.url + "/area/orders")
    place = page.locator("#m-orders-place")
    place.locator("summary").click()
    now = int(time.time() * 1000)
    for name, value in (("id", "WEB-1"), ("seller", seller), ("product", gtin),
                        ("quantity", "2"), ("unit_price", "1850"), ("freight", "800"),
                        ("currency", "CNY"), ("earliest", str(now)),
                        ("latest", str(now + 4 * 86_400_000))):
        place.locator(f"[name='{name}']").fill(value)
    place.get_by_role("button", name="Sign and submit").click()
    place.locator(".notice").wait_for()
    assert "Committed" in place.locator(".notice").inner_text()
    parcel = supplier.post("/api/contracts/products/create_batch", json={
        "gtin": gtin, "lot": "PWEB1", "quantity": "2", "uom": "H87"}).json()["receipt"][
            "result"]["batch"]
    courier_did = courier.get("/api/auth/me").json()["did"]
    for client, method, args in (
            (supplier, "dispatch", {"order": "WEB-1", "transporter": courier_did,
                                    "transport_no": "TWEB1", "batch": parcel}),
            (courier, "pickup", {"order": "WEB-1"}), (courier, "deliver", {"order": "WEB-1"})):
        r = client.post(f"/api/contracts/orders/{method}", json=args)
        assert r.status_code == 200, r.text
    page.reload()
    confirm = page.locator("#m-orders-confirm")
    confirm.locator("summary").click()
    confirm.locator("[name='order']").fill("WEB-1")
    confirm.get_by_role("button", name="Sign and submit").click()
    confirm.locator(".notice").wait_for()
    assert "Committed" in confirm.locator(".notice").inner_text()
    order = served.service.reads.rows("orders", 1, None, {"id": "WEB-1"}).items[0]
    assert order["state"] not in ("placed", "dispatched", "delivered"), order
    page.reload()
    _shot(page, "orders")


def test_run_the_audit(page: Any, served: DemoServed) -> None:
    _login(page, served, "auditor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.get_by_role("button", name="Run the audit").click()
    page.locator("#report .notice").wait_for(timeout=120_000)
    report = page.locator("#report").inner_text()
    assert "FINDINGS" in report and "trace_events" in report
    _shot(page, "audit-findings")


def test_other_pages_for_the_record(page: Any, served: DemoServed) -> None:
    """Screenshots of the remaining main pages, each checked to render its heading."""
    _login(page, served, "admin")
    hot = served.info.faulty_lot
    for path, name, heading in (("/explorer", "explorer", "Block explorer"),
                                (f"/recall?batch={hot}", "recall", "Recall"),
                                ("/admin", "participants", "Participants and roles"),
                                ("/area/custody", "custody", "Custody proposals"),
                                ("/area/logistics", "logistics", "Shipments and sensors"),
                                ("/area/products", "products", "Products and batches")):
        page.goto(served.url + path)
        assert page.get_by_role("heading", name=heading, exact=True).is_visible()
        _shot(page, name)
    page.context.clear_cookies()
    _login(page, served, "courier")
    page.goto(served.url + "/privacy")
    page.get_by_role("button", name="View decrypted").first.click()
    assert re.search(r"Jinli Road", page.locator("#plaintext").inner_text())
    _shot(page, "data-sharing")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(served.url + "/")
    _shot(page, "dashboard-phone")
