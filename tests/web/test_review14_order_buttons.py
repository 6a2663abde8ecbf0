"""Review 14: the order steps review 13 left to the Call page, one click away on the row.

The seller's "Cancel" (placed, and no financier's advance against the escrow: the
contract's own ``financed_by``), "Reschedule" and "Receive return"; the buyer's "Return"
(delivered, within the dispute period); and "Agree new window" for the buyer or seller
the other proposed a window to. Each opens the method's ordinary form (CSRF token, sent
once) prefilled from the row, with the arguments the user still chooses (a new window, a
return's reason) as required fields; signing it commits the call. Where the contract would
refuse, the button is absent. And the main menu links the Emissions page for those it
serves. Against a week of the demo, served on loopback.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from web.test_review13_order_buttons import _buttons, _follow, _parcel, _seen, _state

YEAST = "06901234200010"  # Riverside Baking Supplies' product for sale in the demo
DAY = 86_400_000
_ids = iter(range(1, 10_000))


served = demo_fixture("buttons14", weeks=1, api=CHEAP)
browser = browser_fixture()


def _wider(p: Any) -> int:
    """How far the page scrolls sideways (0: it fits the screen)."""
    return int(p.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _place(served: Served) -> str:
    """A new order of the demo customer's for yeast from Riverside: its id."""
    oid = f"B14-{next(_ids)}"
    now = int(time.time() * 1000)
    with served.api("customer") as c:
        r = c.post("/api/contracts/orders/place", json={
            "id": oid, "seller": served.did("supplier-a"), "product": YEAST,
            "quantity": 2, "unit_price": 1850, "freight": 800, "currency": "CNY",
            "earliest": now, "latest": now + 3 * DAY})
        assert r.json()["receipt"]["ok"], r.text
    return oid


def _delivered(served: Served) -> tuple[str, str]:
    """A new order dispatched, picked up and delivered: its id and its batch's."""
    oid = _place(served)
    parcel = _parcel(served, oid)
    with served.api("supplier-a") as s, served.api("courier") as c:
        for client, method, args in (
                (s, "dispatch", {"order": oid, "transporter": served.did("courier"),
                                 "transport_no": f"T{oid}", "batch": parcel}),
                (c, "pickup", {"order": oid}), (c, "deliver", {"order": oid})):
            r = client.post(f"/api/contracts/orders/{method}", json=args)
            assert r.json()["receipt"]["ok"], r.text
    return oid, parcel



def _refused(served: Served, login: str, method: str, oid: str, code: str,
             **more: Any) -> str:
    """The contract's refusal (error ``code``) of ``login``'s call: its message."""
    receipt = served.call(login, "orders", method, {"order": oid, **more})
    assert not receipt["ok"] and receipt["error"]["code"] == code, receipt
    return str(receipt["error"]["message"])


def _order(served: Served, oid: str) -> dict[str, Any]:
    [row] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return dict(row)


def _minute(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def test_the_seller_cancels_before_dispatch_unless_an_advance_was_paid_on_the_order(
        served: Served) -> None:
    oid = _place(served)
    assert _seen(served, oid)["supplier-a"] == ["Cancel", "Dispatch", "Reschedule"]
    fields = _follow(served, "supplier-a", oid, "Cancel")
    assert "reason" in fields  # the form's optional reason, left empty
    assert _state(served, oid) == "cancelled"
    assert _seen(served, oid) == {login: [] for login in ("customer", "supplier-a",
                                                          "courier", "driver")}

    financed = _place(served)
    financier = served.did("financier")
    assert served.call("bank", "payments", "deposit", {
        "account": financier, "currency": "CNY", "amount": 10_000,
        "reference": "working capital"})["ok"]
    assert served.call("supplier-a", "credit", "request_financing", {
        "order": financed, "financier": financier, "amount": 2000, "repay": 2100})["ok"]
    # asked, not advanced yet: the escrow is nobody's collateral, so the seller may cancel
    assert "Cancel" in _seen(served, financed)["supplier-a"]
    assert served.call("financier", "credit", "decide",
                       {"order": financed, "approve": True})["ok"]
    seen = _seen(served, financed)
    assert seen["supplier-a"] == ["Dispatch", "Reschedule"]
    # the buyer still may, with a full refund (and reschedule: review 20)
    assert seen["customer"] == ["Cancel", "Reschedule"]
    assert "only the buyer may cancel" in _refused(served, "supplier-a", "cancel", financed,
                                                   "forbidden")
    _follow(served, "customer", financed, "Cancel")
    assert _state(served, financed) == "cancelled"


def test_the_buyer_returns_a_delivery_and_the_seller_receives_it_back(
        served: Served) -> None:
    oid, parcel = _delivered(served)
    assert _seen(served, oid)["customer"] == ["Confirm receipt", "Dispute", "Rate", "Return"]
    # nothing to receive yet (a dispute is the seller's too: review 20)
    assert _seen(served, oid)["supplier-a"] == ["Dispute"]
    with served.web("customer") as web:
        form = web.get(_buttons(web, oid)["Return"]).text
    # the reason is the user's: a required, labelled field, empty
    assert re.search(r'<label for="m-reason">Reason <span class="req"', form)
    assert re.search(r'<input id="m-reason" name="reason" type="text" value=""[^>]* required',
                     form)
    _follow(served, "customer", oid, "Return", reason="wrong strain of yeast")
    assert _state(served, oid) == "return_requested"
    # (review 20: a return asked for may still be disputed, by any of the three; review
    # 21: the delivery may still be rated)
    assert _seen(served, oid) == {"customer": ["Dispute", "Rate"],
                                  "supplier-a": ["Dispute", "Receive return"],
                                  "courier": ["Dispute"], "driver": []}

    # The goods' custodian (the buyer) offers their custody to someone else: the contract
    # would not move it back to the seller under that open proposal, and the row agrees.
    receipt = served.call("customer", "custody", "propose",
                          {"batch": parcel, "to": served.did("driver"), "kind": "custody"})
    assert receipt["ok"], receipt
    assert _seen(served, oid)["supplier-a"] == ["Dispute"]
    assert "open hand-over proposal" in _refused(served, "supplier-a", "receive_return", oid,
                                                 "invalid_state")
    assert served.call("customer", "custody", "cancel",
                       {"proposal": receipt["result"]["proposal"]})["ok"]

    assert _seen(served, oid)["supplier-a"] == ["Dispute", "Receive return"]
    _follow(served, "supplier-a", oid, "Receive return")
    assert _state(served, oid) == "returned"
    [held] = served.service.reads.rows("custody_holdings", 1, None, {"batch": parcel}).items
    assert held["custodian"] == served.did("supplier-a")  # the goods are back
    assert _seen(served, oid)["supplier-a"] == []


def test_no_return_once_the_dispute_period_is_over(served: Served) -> None:
    assert served.call("admin", "orders", "configure", {"release_after_ms": 0})["ok"]
    try:
        oid, _ = _delivered(served)
        assert _seen(served, oid)["customer"] == ["Confirm receipt", "Rate", "Release"]
        assert "dispute period ended" in _refused(served, "customer", "request_return", oid,
                                                  "invalid_state", reason="late")
    finally:
        assert served.call("admin", "orders", "configure",
                           {"release_after_ms": 7 * DAY})["ok"]


def test_the_seller_reschedules_and_the_buyer_agrees_from_the_row(served: Served) -> None:
    oid = _place(served)
    now = int(time.time() * 1000)
    earliest, latest = _minute(now + 2 * DAY), _minute(now + 5 * DAY)
    with served.web("supplier-a") as web:
        form = web.get(_buttons(web, oid)["Reschedule"]).text
    for name in ("earliest", "latest"):  # the new window is the seller's to give
        assert re.search(rf'<input id="m-{name}" name="{name}" type="text" value=""[^>]*'
                         r" required", form), name
    _follow(served, "supplier-a", oid, "Reschedule", earliest=earliest, latest=latest)
    assert _minute(_order(served, oid)["latest"]) != latest  # proposed: the old one stands
    assert _seen(served, oid) == {"customer": ["Agree new window", "Cancel"],
                                  "supplier-a": ["Cancel", "Dispatch", "Reschedule"],
                                  "courier": [], "driver": []}

    fields = _follow(served, "customer", oid, "Agree new window")
    assert (fields["earliest"], fields["latest"]) == (earliest, latest)  # the proposal's
    new = _order(served, oid)
    assert (_minute(new["earliest"]), _minute(new["latest"])) == (earliest, latest)
    # agreed: nothing left to answer (a new proposal of its own: review 20)
    assert _seen(served, oid)["customer"] == ["Cancel", "Reschedule"]

    # The buyer proposes: the seller's button becomes the agreement, prefilled.
    counter = _minute(new["latest"] + DAY)
    assert served.call("customer", "orders", "reschedule", {
        "order": oid, "earliest": new["earliest"], "latest": new["latest"] + DAY})["ok"]
    assert _seen(served, oid)["supplier-a"] == ["Agree new window", "Cancel", "Dispatch"]
    assert _follow(served, "supplier-a", oid, "Agree new window")["latest"] == counter
    assert _minute(_order(served, oid)["latest"]) == counter


def test_no_reschedule_once_delivered(served: Served) -> None:
    oid, _ = _delivered(served)
    assert all("Reschedule" not in b and "Agree new window" not in b
               for b in _seen(served, oid).values())
    now = int(time.time() * 1000)
    assert "reschedule needs" in _refused(served, "supplier-a", "reschedule", oid,
                                          "invalid_state", earliest=now + DAY,
                                          latest=now + 2 * DAY)


def _nav(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page.split('aria-label="Main"')[1].split("</nav>")[0])


def test_the_menu_links_emissions_for_platforms_transporters_and_admins(
        served: Served) -> None:
    for login, shown in (("platform-a", True), ("courier", True), ("driver", True),
                         ("admin", True), ("customer", False), ("supplier-a", False),
                         ("financier", False)):
        with served.web(login) as web:
            page = web.get("/emissions")
            assert page.status_code == 200
            assert ("/emissions" in _nav(page.text)) is shown, login
            if shown:
                assert re.search(r'<a href="/emissions" aria-current="page">Emissions</a>',
                                 page.text)
    # everyone still reaches it from the Logistics area
    with served.web("customer") as web:
        assert 'href="/emissions"' in web.get("/area/logistics").text


@pytest.mark.browser
def test_on_a_phone_the_seller_reschedules_from_the_row(browser: Any,
                                                       served: Served) -> None:
    oid = _place(served)
    now = int(time.time() * 1000)
    earliest, latest = _minute(now + DAY), _minute(now + 4 * DAY)
    p = page_as(browser, served, "supplier-a", PHONE)
    p.goto(f"{served.url}/tables/orders?id={oid}")
    assert _wider(p) <= 0
    p.get_by_role("link", name="Reschedule").click()
    assert _wider(p) <= 0, "the form scrolls sideways on a phone"
    p.get_by_label("Earliest").fill(earliest)
    p.get_by_label("Latest").fill(latest)
    p.get_by_role("button", name="Sign and submit").click()
    p.get_by_text("Committed").first.wait_for()
    assert _wider(p) <= 0
    p.context.close()
    assert "Agree new window" in _seen(served, oid)["customer"]


@pytest.mark.browser
def test_a_platform_finds_emissions_in_the_menu_on_a_phone(browser: Any,
                                                          served: Served) -> None:
    p = page_as(browser, served, "platform-a", PHONE)
    # its 15 items (Emissions among them) fold behind the menu button; unfolded, they
    # wrap to short lines, none cut off
    p.get_by_role("button", name=re.compile(r"^Menu")).click()
    items = p.locator("nav.main-nav li")
    assert items.count() == 15
    assert len({round(items.nth(i).bounding_box()["y"]) for i in range(15)}) == 4
    p.get_by_role("navigation", name="Main").get_by_role("link", name="Emissions").click()
    p.wait_for_url(served.url + "/emissions")
    assert p.get_by_role("heading", name="Freight emissions").is_visible()
    assert _wider(p) <= 0
    p.context.close()
    p = page_as(browser, served, "supplier-a", PHONE)  # a seller's menu has no such item
    assert p.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Emissions").count() == 0
    p.context.close()
