"""Users of the demo consortium doing their jobs in the web UI, in Debian's Chromium: a
customer orders a product and follows it, the seller dispatches it to a courier who
delivers it, an admin enrols a financier who assesses the seller, an inspector records an
event, a customer shares her address. Each test pins a defect these journeys ran into:
a reload that signed the same transaction again, a double click that signed it twice, an
inbox that hid new orders behind old ones, money and times typed as JSON and epoch
milliseconds, results shown as raw JSON, data shared with nobody.

One demo ledger and one server per module (see test_browser.py for how the browser is
found and why it is never downloaded).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest

# The module's demo server, browser and page: the same fixtures as test_browser.py's, made
# again for this module (they are module-scoped).
from _serving import DemoServed as Served
from _serving import log_in

from .test_browser import browser as browser
from .test_browser import page as page
from .test_browser import served as served

pytestmark = pytest.mark.browser
HOUR = 3_600_000


def _login(page: Any, served: Served, login: str, password: str | None = None) -> None:
    page.context.clear_cookies()
    log_in(page, served.url, login, password or served.password(login))


def _did(served: Served, login: str) -> str:
    return served.did(login)


def _call(page: Any, contract: str, method: str, values: dict[str, str]) -> Any:
    """Fill and send a method form of the page; returns its result box."""
    form = page.locator(f"#m-{contract}-{method}")
    if not form.evaluate("e => e.open"):
        form.locator("summary").click()
    for name, value in values.items():
        form.locator(f"[name='{name}']").fill(value)
    box = form.locator(".result")
    box.evaluate("e => e.innerHTML = ''")
    form.get_by_role("button", name="Sign and submit").click()
    box.locator(".notice").wait_for()
    return box


def _options(page: Any, list_id: str) -> list[tuple[str, str]]:
    return [tuple(o) for o in page.locator(f"#{list_id} option").evaluate_all(
        "els => els.map(e => [e.value, e.textContent])")]


def _order(served: Served, order_id: str) -> dict[str, Any]:
    return dict(served.service.reads.rows("orders", 1, None, {"id": order_id}).items[0])


def test_reloading_a_recorded_event_records_nothing_again(page: Any, served: Served) -> None:
    _login(page, served, "inspector")
    lot = served.info.faulty_lot.rsplit("/", 1)[-1]
    page.goto(served.url + "/events/new?link=inspection")
    page.get_by_label("Batch").fill(lot)
    page.get_by_label("Note").fill("re-test: still too moist")
    page.get_by_role("button", name="Sign and record").click()
    page.locator("#event-ok").wait_for()
    height = served.service.node.height
    page.reload()  # the browser sends the same POST again
    assert page.locator("#repeated").is_visible()
    assert "Recorded as event" in page.locator("#event-ok").inner_text()
    page.goto(served.url + "/trace")
    page.go_back()
    assert served.service.node.height == height
    # The page the reload shows is a fresh form: a second, deliberate event goes through.
    page.get_by_role("button", name="Sign and record").click()
    page.locator("#event-ok").wait_for()
    assert served.service.node.height == height + 1


def test_a_customer_orders_a_product_typing_a_date_and_a_price(page: Any,
                                                               served: Served) -> None:
    _login(page, served, "customer")
    page.goto(served.url + "/area/products")
    yeast = page.locator("tr", has_text="Baking yeast")
    with page.expect_navigation():
        yeast.get_by_role("link", name="Order").click()
    form = page.locator("form.card")
    assert form.locator("[name=seller]").input_value() == _did(served, "supplier-a")
    assert form.locator("[name=unit_price]").get_attribute("type") == "number"
    for name, value in (("id", "J-1"), ("quantity", "2"), ("unit_price", "1850"),
                        ("freight", "800"), ("currency", "CNY"),
                        ("earliest", "next tuesday"), ("latest", "2026-12-05 18:00")):
        form.locator(f"[name={name}]").fill(value)
    height = served.service.node.height
    form.get_by_role("button", name="Sign and submit").click()
    alert = page.get_by_role("alert")
    assert "Earliest must be a date and time like 2026-11-25 14:00 (UTC)" in alert.inner_text()
    assert "Nothing was signed" in alert.inner_text()
    assert form.locator("[name=earliest]").input_value() == "next tuesday"
    assert form.locator("[name=id]").input_value() == "J-1"
    assert served.service.node.height == height
    form.locator("[name=earliest]").fill("2026-12-01 09:00")
    form.get_by_role("button", name="Sign and submit").click()
    ok = page.locator(".notice.ok")
    assert "Committed" in ok.inner_text()
    # The result is read back as fields, not as JSON.
    assert ok.locator("dl.kv dt", has_text="escrow").is_visible()
    assert "CNY 45.00" in ok.locator("dl.kv").inner_text() and not ok.locator("pre").count()
    placed = _order(served, "J-1")
    assert placed["earliest"] == int(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC).timestamp()
                                     * 1000)
    page.reload()
    assert page.locator("#repeated").is_visible()
    assert served.service.node.height == height + 1


def test_the_seller_sees_a_new_order_first_and_the_courier_delivers_it(
        page: Any, served: Served) -> None:
    with served.api("customer") as customer, served.api("supplier-a") as supplier:
        _new_order_for_the_seller(page, served, customer, supplier)


def _new_order_for_the_seller(page: Any, served: Served, customer: httpx.Client,
                              supplier: httpx.Client) -> None:
    supplier_did = _did(served, "supplier-a")
    gtin = served.service.reads.rows("products", 10, None,
                                     {"owner": supplier_did}).items[0]["gtin"]
    now = int(time.time() * 1000)
    r = customer.post("/api/contracts/orders/place", json={
        "id": "ZZ-2", "seller": supplier_did, "product": gtin, "quantity": 1,
        "unit_price": 1850, "freight": 800, "currency": "CNY", "earliest": now,
        "latest": now + 96 * HOUR})
    assert r.status_code == 200, r.text
    assert supplier.post("/api/contracts/products/create_batch", json={
        "gtin": gtin, "lot": "PJ2", "quantity": "1", "uom": "H87"}).status_code == 200
    _login(page, served, "supplier-a")
    page.goto(served.url + "/area/orders")
    inbox = page.locator("details.table").first.locator("table").first
    assert "About you" in inbox.locator("caption").inner_text()
    first = inbox.locator("tbody tr").first
    assert first.locator("td").first.inner_text() == "ZZ-2" and "placed" in first.inner_text()
    # The form suggests the courier by name and the lot by its number.
    courier = next(v for v, label in _options(page, "dl-participants")
                   if label.startswith("SwiftExpress dispatch"))
    parcel = next(v for v, label in _options(page, "dl-batches") if "lot PJ2" in label)
    box = _call(page, "orders", "dispatch", {"order": "ZZ-2", "transporter": courier,
                                             "transport_no": "TZZ2", "batch": parcel})
    assert "Committed" in box.inner_text()
    _login(page, served, "courier")
    page.goto(served.url + "/area/orders")
    assert ("ZZ-2", "dispatched · qty 1 of " + gtin) in _options(page, "dl-orders")
    for method in ("pickup", "deliver"):
        assert "Committed" in _call(page, "orders", method, {"order": "ZZ-2"}).inner_text()
    _login(page, served, "customer")
    page.goto(served.url + "/area/orders")
    paid = _call(page, "orders", "confirm", {"order": "ZZ-2"})
    assert "Committed" in paid.inner_text() and "completed" in paid.inner_text()
    # The order's id leads to its history, newest first.
    with page.expect_navigation():
        page.locator("details.table").first.get_by_role("link", name="ZZ-2").first.click()
    history = page.locator("table tbody tr")
    assert "confirmed" in history.first.inner_text()
    assert "placed" in history.last.inner_text()


def test_double_clicking_a_form_signs_it_once(page: Any, served: Served) -> None:
    _login(page, served, "customer")
    page.goto(served.url + "/area/orders")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    form = page.locator("#m-orders-cancel")
    form.locator("summary").click()
    form.locator("[name=order]").fill("NO-SUCH-ORDER")
    form.get_by_role("button", name="Sign and submit").dblclick()
    form.locator(".result .notice").wait_for()
    assert "not_found" in form.locator(".result").inner_text()
    # Both clicks happened before the first answer came: a second request would be out.
    assert len(posts) == 1, posts


def test_an_admin_enrols_a_financier_who_assesses_a_seller(page: Any,
                                                           served: Served) -> None:
    _login(page, served, "admin")
    page.goto(served.url + "/admin")
    enrol = page.locator("form[action='/admin/enrol']")
    enrol.locator("#en-org").select_option("finance")
    enrol.locator("#en-name").fill("Fang Credit")
    enrol.get_by_label("financier").check()
    enrol.locator("#en-login").fill("fang")
    enrol.locator("#en-pw").fill("fang-pass-123")
    enrol.get_by_role("button", name="Enrol").click()
    result = page.locator("#enrol-result .notice")
    result.wait_for()
    assert "Committed" in result.inner_text()
    enrol.get_by_role("button", name="Enrol").click()
    page.locator("#enrol-result .notice.bad").wait_for()
    assert "login 'fang' is taken" in page.locator("#enrol-result").inner_text()
    assert enrol.locator("#en-name").input_value() == "Fang Credit"
    _login(page, served, "fang", "fang-pass-123")
    page.goto(served.url + "/area/orders")
    seller = next(v for v, label in _options(page, "dl-participants")
                  if label.startswith("Riverside Baking Supplies"))
    box = _call(page, "credit", "assess", {"subject": seller})
    factors = box.locator("table")
    assert factors.locator("th", has_text="weight").is_visible()
    assert factors.get_by_role("cell", name="on time delivery", exact=True).is_visible()
    assert not box.locator("pre").count()
    page.reload()
    table = page.locator("details.table", has_text="credit_assessments")
    table.evaluate("e => { e.open = true; }")
    cell = table.locator("details.cell").first
    cell.locator("summary").click()
    assert cell.get_by_role("cell", name="disputes lost", exact=True).is_visible()


def test_sharing_needs_a_recipient_and_a_reload_shares_nothing_again(
        page: Any, served: Served) -> None:
    _login(page, served, "customer")
    me = _did(served, "customer")

    def records() -> int:
        return len(served.service.reads.rows("private_records", 500, None,
                                             {"author": me}).items)

    before = records()
    page.goto(served.url + "/privacy")
    page.get_by_label("Data to share").fill("Alice, 18 Jinli Road, 138 0000 0000")
    page.get_by_role("button", name="Encrypt and share").click()
    assert page.get_by_label("Recipients").evaluate("e => !e.validity.valid")
    assert records() == before
    page.get_by_label("Recipients").select_option(label="SwiftExpress dispatch (express-a)")
    page.get_by_role("button", name="Encrypt and share").click()
    assert "Shared as record" in page.locator("#privacy-ok").inner_text()
    page.reload()
    assert "already sent" in page.locator("#privacy-ok").inner_text()
    assert records() == before + 1
