"""Review 20: an order's whole life in the web UI, walked by each of its parties (buyer,
seller, transporter, arbiter, financier) against a week of the demo served on loopback.
What they tripped over, each pinned here:

* a disputed order offered nobody a button: the arbiter had to find ``orders.resolve``
  in the catalogue and type the order's id, and its form did not say what the escrow
  holds (its refund and freight are shares of it) nor who disputed it and why;
* the seller had no button to ask a financier for an advance against an order's escrow,
  and a pending request none for the financier to approve or decline it, nor for the
  seller to withdraw it; the financing table showed what is to be repaid in minor units
  ("5500" beside "CNY 50.00");
* a credit assessment showed the seller's settled volume in minor units ("CNY 92500");
* the "Order" button's form showed the seller as a bare participant id;
* a step's result did not lead to the order, where its state and whose turn it is show.
"""

from __future__ import annotations

import html
import re

import httpx

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields, row_buttons
from api.conftest import CHEAP
from supplyledger.api.web.amounts import readable
from web.test_review13_order_buttons import _buttons, _follow, _parcel, _place, _state

served = demo_fixture("commerce20", weeks=1, api=CHEAP)
LOGINS = ("customer", "supplier-a", "courier", "arbiter", "financier")


def _seen(served: Served, oid: str) -> dict[str, list[str]]:
    out = {}
    for login in LOGINS:
        with served.web(login) as web:
            out[login] = sorted(_buttons(web, oid))
    return out


def _delivered(served: Served) -> str:
    """A new order, dispatched, picked up and delivered over the API: its id."""
    oid = _place(served)
    with served.api("supplier-a") as s, served.api("courier") as c:
        for client, method, args in (
                (s, "dispatch", {"order": oid, "transporter": served.did("courier"),
                                 "transport_no": f"T{oid}", "batch": _parcel(served, oid)}),
                (c, "pickup", {"order": oid}), (c, "deliver", {"order": oid})):
            assert client.post(f"/api/contracts/orders/{method}",
                               json=args).json()["receipt"]["ok"]
    return oid


def _hint(page: str, field: str) -> str:
    found = re.search(rf'id="m-{field}-hint">([^<]*)</small>', page)
    assert found, page[-2000:]
    return html.unescape(found.group(1))


def test_the_arbiter_rules_a_dispute_from_its_row(served: Served) -> None:
    oid = _delivered(served)
    _follow(served, "customer", oid, "Dispute", reason="two packets torn")
    # a delivered order takes its buyer's rating whatever comes after (ratings.rate)
    assert _seen(served, oid) == {"customer": ["Rate"], "supplier-a": [], "courier": [],
                                  "arbiter": ["Rule"], "financier": []}
    with served.web("arbiter") as web:
        page = web.get(_buttons(web, oid)["Rule"]).text
    # escrow: 2 x 18.50 + 8.00 freight
    refund = _hint(page, "refund")
    assert f"order {oid}'s escrow holds 4500 (CNY 45.00): goods 3700 (CNY 37.00), " \
           "freight 800 (CNY 8.00)" in refund
    assert "disputed by Alice Wang (buyer): “two packets torn”" in refund
    assert "at most 800 (CNY 8.00)" in _hint(page, "freight_paid")
    _follow(served, "arbiter", oid, "Rule", refund="1000", freight_paid="800",
            at_fault="seller", ownership="buyer")
    assert _state(served, oid) == "resolved"
    assert _seen(served, oid) == {login: ["Rate"] if login == "customer" else []
                                  for login in LOGINS}


def test_a_step_leads_to_its_order(served: Served) -> None:
    oid = _place(served)
    with served.web("customer") as web:
        href = _buttons(web, oid)["Cancel"]
        r = web.post("/contracts/orders/cancel",
                     data={**form_fields(web.get(href).text, "/contracts/orders/cancel")})
    assert r.status_code == 200 and "Committed" in r.text
    assert f'<a href="/tables/orders?id={oid}">Order {oid}</a>: its row shows where it ' \
           "stands and the next step of each party." in r.text


def _financing(web: httpx.Client, oid: str) -> tuple[dict[str, str], str]:
    page = web.get("/tables/financing", params={"order_id": oid}).text
    return row_buttons(page, lambda r: f">{oid}<" in r), page


def test_the_seller_asks_for_financing_and_the_financier_answers_from_the_rows(
        served: Served) -> None:
    oid = _place(served)
    assert "Request financing" in _seen(served, oid)["supplier-a"]
    with served.web("supplier-a") as web:
        page = web.get(_buttons(web, oid)["Request financing"]).text
    assert "at most the goods' 3700 (CNY 37.00)" in _hint(page, "repay")
    fin = served.did("financier")
    _follow(served, "supplier-a", oid, "Request financing", financier=fin, amount="3000",
            repay="3300")
    assert "Request financing" not in _seen(served, oid)["supplier-a"]  # one at a time
    with served.web("financier") as web:
        buttons, page = _financing(web, oid)
        assert list(buttons) == ["Approve or decline"]
        assert 'title="3300 minor units">CNY 33.00</span>' in page  # repay, as money
    with served.web("supplier-a") as web:
        assert list(_financing(web, oid)[0]) == ["Withdraw request"]
    with served.web("customer") as web:
        assert _financing(web, oid)[0] == {}
    with served.web("financier") as web:
        href = buttons["Approve or decline"]
        r = web.post("/contracts/credit/decide", data={
            **form_fields(web.get(href).text, "/contracts/credit/decide"),
            "approve": "false", "reason": "no limit left this month"})
        assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
        assert _financing(web, oid)[0] == {}
    # declined: the seller may ask again (another financier, or the same later)
    assert "Request financing" in _seen(served, oid)["supplier-a"]
    _follow(served, "supplier-a", oid, "Request financing", financier=fin, amount="3000",
            repay="3300")
    with served.web("supplier-a") as web:
        href = _financing(web, oid)[0]["Withdraw request"]
        r = web.post("/contracts/credit/withdraw_request", data=form_fields(
            web.get(href).text, "/contracts/credit/withdraw_request"))
        assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
        assert _financing(web, oid)[0] == {}


def test_the_order_buttons_form_names_the_seller(served: Served) -> None:
    with served.web("customer") as web:
        b = row_buttons(web.get("/tables/products").text,
                        lambda r: "Riverside Baking Supplies" in r)
        page = web.get(b["Order"]).text
    assert _hint(page, "seller").endswith(" — filled in: Riverside Baking Supplies")


def test_a_settled_volume_per_currency_reads_as_money() -> None:
    assert readable({"score": 672, "volume": {"CNY": 92500, "JPY": 1200}}) == {
        "score": 672, "volume": {"CNY": "CNY 925.00", "JPY": "JPY 1,200"}}
    assert readable({"volume": {"cny": 5}}) == {"volume": {"cny": 5}}  # not a currency
