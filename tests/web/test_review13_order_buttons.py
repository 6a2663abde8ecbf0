"""Review 13: an order's next step is one click away for the party whose turn it is.

Order rows (the Orders area page's "about you" table, ``/tables/orders``) offer the seller
"Dispatch", the transporter "Pick up" and "Deliver", the buyer "Confirm receipt",
"Dispute", "Rate" and "Cancel", and anyone "Release" once the dispute period is over;
each only where the contract would accept the call from that user. Following a button
opens the method's ordinary form, prefilled from the row, and signing it commits. Against
a week of the demo, served on loopback.
"""

from __future__ import annotations

import itertools
import time

import httpx
import pytest

from _serving import DemoServed as Served
from _serving import count_row_button_reads, demo_fixture, form_fields, row_buttons
from api.conftest import CHEAP
from supplyledger.api.web.actions import ROUNDS

YEAST = "06901234200010"  # Riverside Baking Supplies' product for sale in the demo
_ids = itertools.count(1)
LOGINS = ("customer", "supplier-a", "courier", "driver")


served = demo_fixture("buttons", weeks=1, api=CHEAP)


def _place(served: Served) -> str:
    """A new order of the demo customer's for yeast from Riverside: its id."""
    oid = f"B13-{next(_ids)}"
    now = int(time.time() * 1000)
    with served.api("customer") as c:
        r = c.post("/api/contracts/orders/place", json={
            "id": oid, "seller": served.did("supplier-a"), "product": YEAST,
            "quantity": 2, "unit_price": 1850, "freight": 800, "currency": "CNY",
            "earliest": now, "latest": now + 3 * 86_400_000})
        assert r.json()["receipt"]["ok"], r.text
    return oid


def _parcel(served: Served, oid: str) -> str:
    """A batch of yeast the seller ships order ``oid`` in: its id."""
    with served.api("supplier-a") as c:
        r = c.post("/api/contracts/products/create_batch", json={
            "gtin": YEAST, "lot": f"P{oid}", "quantity": "2", "uom": "H87"})
        assert r.json()["receipt"]["ok"], r.text
        return str(r.json()["receipt"]["result"]["batch"])


def _buttons(web: httpx.Client, oid: str) -> dict[str, str]:
    """label -> link of the buttons on order ``oid``'s row of /tables/orders."""
    return row_buttons(web.get("/tables/orders", params={"id": oid}).text,
                       lambda r: f">{oid}<" in r)


def _seen(served: Served, oid: str) -> dict[str, list[str]]:
    """The buttons each demo login sees on order ``oid`` (but the seller's "Request
    financing", on every order its escrow will pay: test_review20_commerce_walk's)."""
    out = {}
    for login in LOGINS:
        with served.web(login) as web:
            out[login] = sorted(set(_buttons(web, oid)) - {"Request financing"})
    return out


def _state(served: Served, oid: str) -> str:
    [order] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return str(order["state"])


def _follow(served: Served, login: str, oid: str, label: str,
            **chosen: str) -> dict[str, str]:
    """``login`` follows the ``label`` button of order ``oid``, checks the form it opens is
    prefilled with the order, adds what the user chooses (``chosen``) and signs: the
    form's fields."""
    with served.web(login) as web:
        href = _buttons(web, oid)[label]
        path = href.split("?", 1)[0]
        fields = form_fields(web.get(href).text, path)
        assert fields.get("order") == oid, (href, fields)
        assert fields.get("csrf") and fields.get("once")  # the ordinary signing form
        r = web.post(path, data={**fields, **chosen})
        assert r.status_code == 200 and "Committed" in r.text, r.text[-3000:]
    return fields


def _refused(served: Served, login: str, method: str, oid: str, **more: str) -> str:
    """The contract's refusal of ``login``'s call (the ledger's answer, as text)."""
    with served.api(login) as c:
        r = c.post(f"/api/contracts/orders/{method}", json={"order": oid, **more})
    assert "invalid_state" in r.text and not r.json().get("receipt", {}).get("ok"), r.text
    return r.text


def test_each_party_gets_its_step_and_signs_it_from_the_row(served: Served) -> None:
    oid = _place(served)
    # (and, since review 14, the seller's "Cancel" and "Reschedule"; since review 20 the
    # buyer's "Reschedule", and "Dispute" for buyer, seller and transporter once dispatched)
    assert _seen(served, oid) == {"customer": ["Cancel", "Reschedule"],
                                  "supplier-a": ["Cancel", "Dispatch", "Reschedule"],
                                  "courier": [], "driver": []}
    # the seller's inbox (the area page's rows about it) offers it too
    with served.web("supplier-a") as web:
        area = web.get("/area/orders").text
        inbox = area.split("<summary><code>orders</code>", 1)[1].split("</details>", 1)[0]
        assert f"/contracts/orders/dispatch?order={oid}" in inbox.split(
            "<caption>About you", 1)[1].split("</table>", 1)[0]

    parcel = _parcel(served, oid)
    _follow(served, "supplier-a", oid, "Dispatch", transporter=served.did("courier"),
            transport_no=f"T{oid}", batch=parcel)
    assert _state(served, oid) == "dispatched"
    assert _seen(served, oid) == {"customer": ["Dispute", "Reschedule"],
                                  "supplier-a": ["Dispute", "Reschedule"],
                                  "courier": ["Dispute", "Pick up"], "driver": []}
    _follow(served, "courier", oid, "Pick up")
    assert _seen(served, oid) == {"customer": ["Dispute", "Reschedule"],
                                  "supplier-a": ["Dispute", "Reschedule"],
                                  "courier": ["Deliver", "Dispute"], "driver": []}
    _follow(served, "courier", oid, "Deliver")
    assert _state(served, oid) == "delivered"
    # within the dispute period: no "Release" for anyone, and the contract agrees (and,
    # since review 21, "Rate" from delivery on)
    assert _seen(served, oid) == {"customer": ["Confirm receipt", "Dispute", "Rate",
                                               "Return"],
                                  "supplier-a": ["Dispute"], "courier": ["Dispute"],
                                  "driver": []}
    assert "may be released from" in _refused(served, "driver", "release", oid)
    _follow(served, "customer", oid, "Confirm receipt")
    assert _state(served, oid) == "completed"
    assert _seen(served, oid) == {"customer": ["Rate"], "supplier-a": [], "courier": [],
                                  "driver": []}
    _follow(served, "customer", oid, "Rate", score="4")
    assert _seen(served, oid) == {login: [] for login in LOGINS}  # rated once only


def test_the_buyer_cancels_and_disputes_from_the_row(served: Served) -> None:
    oid = _place(served)
    _follow(served, "customer", oid, "Cancel")
    assert _state(served, oid) == "cancelled"
    assert _seen(served, oid) == {login: [] for login in LOGINS}

    oid = _place(served)
    with served.api("supplier-a") as s, served.api("courier") as c:
        for client, method, args in (
                (s, "dispatch", {"order": oid, "transporter": served.did("courier"),
                                 "transport_no": f"T{oid}", "batch": _parcel(served, oid)}),
                (c, "pickup", {"order": oid}), (c, "deliver", {"order": oid})):
            assert client.post(f"/api/contracts/orders/{method}",
                               json=args).json()["receipt"]["ok"]
    _follow(served, "customer", oid, "Dispute", reason="one sack torn")
    assert _state(served, oid) == "disputed"
    # (but "Rate", since review 21: a delivered order, disputed or not)
    assert _seen(served, oid) == {"customer": ["Rate"], "supplier-a": [], "courier": [],
                                  "driver": []}


def test_an_open_hand_over_proposal_hides_pick_up_which_the_contract_would_refuse(
        served: Served) -> None:
    oid = _place(served)
    parcel = _parcel(served, oid)
    with served.api("supplier-a") as s:
        assert s.post("/api/contracts/orders/dispatch", json={
            "order": oid, "transporter": served.did("courier"), "transport_no": f"T{oid}",
            "batch": parcel}).json()["receipt"]["ok"]
        # the row does not show it: the seller offers the goods' custody to someone else
        r = s.post("/api/contracts/custody/propose", json={
            "batch": parcel, "to": served.did("driver"), "kind": "custody"})
        assert r.json()["receipt"]["ok"], r.text
        proposal = r.json()["receipt"]["result"]["proposal"]
    assert _seen(served, oid)["courier"] == ["Dispute"]  # (review 20) but no "Pick up"
    assert "open hand-over proposal" in _refused(served, "courier", "pickup", oid)
    with served.api("supplier-a") as s:
        assert s.post("/api/contracts/custody/cancel",
                      json={"proposal": proposal}).json()["receipt"]["ok"]
    assert _seen(served, oid)["courier"] == ["Dispute", "Pick up"]
    _follow(served, "courier", oid, "Pick up")


def test_once_the_dispute_period_is_over_anyone_releases_and_nobody_disputes(
        served: Served) -> None:
    with served.api("admin") as a:  # no dispute period for goods delivered from now on
        assert a.post("/api/contracts/orders/configure",
                      json={"release_after_ms": 0}).json()["receipt"]["ok"]
    try:
        oid = _place(served)
        with served.api("supplier-a") as s, served.api("courier") as c:
            for client, method, args in (
                    (s, "dispatch", {"order": oid, "transporter": served.did("courier"),
                                     "transport_no": f"T{oid}",
                                     "batch": _parcel(served, oid)}),
                    (c, "pickup", {"order": oid}), (c, "deliver", {"order": oid})):
                assert client.post(f"/api/contracts/orders/{method}",
                                   json=args).json()["receipt"]["ok"]
        seen = _seen(served, oid)
        assert seen == {"customer": ["Confirm receipt", "Rate", "Release"],
                        "supplier-a": ["Release"],
                        "courier": ["Release"], "driver": ["Release"]}
        assert "dispute period ended" in _refused(served, "customer", "dispute", oid,
                                                  reason="late")
        _follow(served, "driver", oid, "Release")
        assert _state(served, oid) == "completed"
    finally:
        with served.api("admin") as a:
            assert a.post("/api/contracts/orders/configure", json={
                "release_after_ms": 7 * 86_400_000}).json()["receipt"]["ok"]


def test_a_page_of_orders_reads_the_state_in_a_few_queries_whatever_its_rows(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_row_button_reads(served.service.node.store, monkeypatch)
    with served.web("customer") as web:
        page = web.get("/tables/orders").text
    assert page.count("<tr>") > 10  # the demo's orders: many rows
    assert 1 <= calls["get_states"] <= ROUNDS  # a query per round of keys, not per row
    assert calls["get_state"] == 0  # nor key by key
