"""Review 21: three order-row buttons matched to what the contracts accept.

"Rate" shows for the buyer of any order once delivered (``ratings.rate``), not only a
completed one: a disputed delivery is rated too. No button offers a machine key (a login
holding only ``device`` or ``node`` roles) a method the identity rules in force let it not
sign: under v3 neither "Release" nor "Order", though a v2 ledger still offers them until
its admins adopt v3. And "Deliver" shows for an order whose buyer was revoked while a
partial report is possible (custody is never handed to a revoked buyer, but the report is
accepted), its form asking for just such a part. Against a week of the demo (and the API
tests' world on identity rules v2), served on loopback.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from _serving import DemoServed as Served
from _serving import demo_fixture, served_older_world
from api.conftest import CHEAP, WHEAT
from supplyledger.contracts.runtime import MACHINE_RULES
from supplyledger.ledger.crypto import generate
from supplyledger.node.service import wall_clock_ms
from web.test_review13_order_buttons import LOGINS, _buttons, _follow, _seen, _state

YEAST = "06901234200010"  # Riverside Baking Supplies' (supplier-a) product for sale
DAY = 86_400_000
_ids = itertools.count(1)

served = demo_fixture("buttons21", weeks=1, api=CHEAP)


def _login(served: Served, login: str, org: str, roles: list[str]) -> str:
    """A new member of ``org`` holding ``roles``, with a web login of that name: its id."""
    key = generate("ed25519")
    assert served.call("admin", "identity", "register_member", {
        "org": org, "public_key": key.public.b64, "name": login.title(),
        "roles": roles})["ok"]
    password = f"{login}-pass-1234"
    served.service.accounts.create(key.did, login, password, key)
    served.info.logins.append((login, password, login.title(), org))
    return key.did


def _place(served: Served, buyer: str = "customer", quantity: int = 2) -> str:
    """A new order of ``buyer``'s for yeast from Riverside: its id."""
    oid, now = f"B21-{next(_ids)}", wall_clock_ms()
    assert served.call(buyer, "orders", "place", {
        "id": oid, "seller": served.did("supplier-a"), "product": YEAST,
        "quantity": quantity, "unit_price": 1850, "freight": 800, "currency": "CNY",
        "earliest": now, "latest": now + 3 * DAY})["ok"]
    return oid


def _advance(served: Served, oid: str, *steps: str, quantity: int = 2) -> None:
    """Take order ``oid`` through ``steps`` (dispatch in a new lot, pickup, deliver)."""
    for step in steps:
        args: dict[str, object] = {"order": oid}
        if step == "dispatch":
            batch = served.call("supplier-a", "products", "create_batch", {
                "gtin": YEAST, "lot": f"P{oid}", "quantity": str(quantity), "uom": "H87"})
            args.update(transporter=served.did("courier"), transport_no=f"T{oid}",
                        batch=batch["result"]["batch"])
        receipt = served.call("supplier-a" if step == "dispatch" else "courier", "orders",
                              step, args)
        assert receipt["ok"], receipt


def _order(served: Served, oid: str) -> dict[str, object]:
    [row] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return dict(row)


def test_the_buyer_rates_a_disputed_delivery(served: Served) -> None:
    oid = _place(served)
    _advance(served, oid, "dispatch", "pickup")
    assert "Rate" not in _seen(served, oid)["customer"]  # not delivered: the contract refuses
    _advance(served, oid, "deliver")
    assert served.call("customer", "orders", "dispute", {"order": oid,
                                                         "reason": "one sack torn"})["ok"]
    assert _state(served, oid) == "disputed"
    # (it showed only once completed: a disputed order may never be)
    assert _seen(served, oid) == {"customer": ["Rate"], "supplier-a": [], "courier": [],
                                  "driver": []}
    _follow(served, "customer", oid, "Rate", score="2")
    [rating] = served.service.reads.rows("ratings", 1, None, {"order_id": oid}).items
    assert rating["score"] == 2
    assert _seen(served, oid) == {login: [] for login in LOGINS}  # once per order


def test_a_machine_key_sees_no_button_the_identity_rules_refuse_it(served: Served) -> None:
    svc = served.service
    assert svc.rules_version("identity") >= MACHINE_RULES
    assert served.call("admin", "identity", "register_org", {
        "id": "iot21", "name": "Loggers 21", "roles": ["device"]})["ok"]
    _login(served, "logger21", "iot21", ["device"])
    with served.api("admin") as a:  # no dispute period for goods delivered from now on
        assert a.post("/api/contracts/orders/configure",
                      json={"release_after_ms": 0}).json()["receipt"]["ok"]
    try:
        oid = _place(served)
        _advance(served, oid, "dispatch", "pickup", "deliver")
    finally:
        with served.api("admin") as a:
            assert a.post("/api/contracts/orders/configure", json={
                "release_after_ms": 7 * DAY}).json()["receipt"]["ok"]
    # anyone may release it now, but not a machine key: the runtime refuses it
    assert "Release" in _seen(served, oid)["driver"]
    with served.web("logger21") as web:
        assert _buttons(web, oid) == {}
        products = web.get("/tables/products", params={"gtin": YEAST}).text
    assert "/contracts/orders/place?" not in products
    with served.web("driver") as web:  # (a member: the same row offers it "Order")
        assert "/contracts/orders/place?" in web.get(
            "/tables/products", params={"gtin": YEAST}).text
    with served.api("logger21") as c:
        r = c.post("/api/contracts/orders/release", json={"order": oid})
    assert r.json()["error"]["code"] == "role_denied", r.text
    _follow(served, "driver", oid, "Release")
    assert _state(served, oid) == "completed"


def test_a_v2_ledger_offers_a_machine_key_what_its_rules_accept_until_v3(
        tmp_path: Path) -> None:
    """The API tests' world, its genesis written under identity rules v2: a device login is
    offered "Order" on a product for sale, as the runtime accepts, until v3 is adopted."""
    with served_older_world(tmp_path / "ledger", {"identity": 2}) as older:
        w = older.world
        assert w.service.rules_version("identity") == 2
        key = generate("ed25519")
        w.ok("admin", "identity", "register_org", {"id": "iot", "name": "Loggers",
                                                   "roles": ["device"]})
        w.ok("admin", "identity", "register_member", {
            "org": "iot", "public_key": key.public.b64, "name": "Logger",
            "roles": ["device"]})
        older.passwords["logger"] = "logger-pass-1234"
        w.service.accounts.create(key.did, "logger", "logger-pass-1234", key)
        w.ok("mill", "products", "declare_for_sale", {"id": WHEAT})

        def offered() -> bool:
            with older.web("logger") as web:
                page = web.get("/tables/products", params={"owner": w.did("mill")}).text
            return "/contracts/orders/place?" in page

        assert offered()
        w.ok("admin", "rules", "adopt", {"contract": "identity", "version": 3})
        assert not offered()


def test_deliver_shows_for_a_revoked_buyer_while_a_partial_report_is_possible(
        served: Served) -> None:
    buyer = _login(served, "buyer21", "customers", ["customer"])
    assert served.call("bank", "payments", "deposit", {
        "account": buyer, "currency": "CNY", "amount": 20_000,
        "reference": "top-up"})["ok"]
    oid = _place(served, "buyer21", quantity=3)
    _advance(served, oid, "dispatch", "pickup", quantity=3)
    assert served.call("admin", "identity", "revoke", {"did": buyer, "reason": "left"})["ok"]
    # (it showed only where custody could pass to the buyer, never a revoked one)
    assert _seen(served, oid)["courier"] == ["Deliver", "Dispute"]
    with served.web("courier") as web:
        href = _buttons(web, oid)["Deliver"]
        form = web.get(href).text
    [quantity] = re.findall(r'<input[^>]*name="quantity"[^>]*>', form)
    assert 'max="2"' in quantity and " required" in quantity, quantity
    assert "only a part is accepted now, 1 to 2 of the 3" in form
    # all the rest (the default) is refused; a part is accepted and moves nothing
    refused = served.call("courier", "orders", "deliver", {"order": oid})
    assert not refused["ok"] and "no active participant" in refused["error"]["message"]
    _follow(served, "courier", oid, "Deliver", quantity="2")
    order = _order(served, oid)
    assert (order["state"], order["delivered"]) == ("in_transit", 2)
    # one left: any report now hands the goods over (or is refused as 0): none accepted
    assert _seen(served, oid)["courier"] == ["Dispute"]
    for args in ({}, {"quantity": 1}, {"quantity": 0, "final": True}):
        assert not served.call("courier", "orders", "deliver", {"order": oid, **args})["ok"]
