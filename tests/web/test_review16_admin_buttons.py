"""Review 16: row buttons for the powers orders rules v3 and privacy rules v2 gave a
consortium admin (and a seller): "Cancel" on a financed order for its seller once the buyer
is no longer active, "Cancel" for an admin once neither buyer nor seller is, and "Erase" on
a private record for an admin once its author is no longer active. Each shows exactly where
the contract would accept the call, decided by the contract's own predicates, and under
the rules version in force: a ledger whose genesis was written under orders v2 and privacy
v1 shows none until its admins adopt the newer rules. Against a week of the demo, and the
API tests' world on older rules, served on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _serving import DemoServed as Served
from _serving import (
    WorldServed,
    count_row_button_reads,
    demo_fixture,
    form_fields,
    row_buttons,
    served_older_world,
)
from api.conftest import CHEAP, WHEAT
from supplyledger.api.web.actions import ROUNDS
from supplyledger.contracts.registry import load_builtin
from supplyledger.ledger.crypto import generate
from supplyledger.node.service import wall_clock_ms

SELLER_PRODUCT = "06901234200010"  # Riverside Baking Supplies' (supplier-a) yeast, for sale
DAY = 86_400_000
RECORD = "ab" * 16
LATEST_ORDERS = max(load_builtin()["orders"].versions)


served = demo_fixture("buttons16", weeks=1, api=CHEAP)


def _buttons(served: Served | WorldServed, login: str, table: str, rid: str) -> dict[str, str]:
    """label -> link of the buttons ``login`` sees on row ``rid`` of /tables/``table``."""
    with served.web(login) as web:
        page = web.get(f"/tables/{table}", params={"id": rid}).text
    return row_buttons(page, lambda r: f">{rid}<" in r or f'title="{rid}"' in r)


def _seen(served: Served | WorldServed, table: str, rid: str, *logins: str) -> dict[str, list[str]]:
    return {lg: sorted(_buttons(served, lg, table, rid)) for lg in logins}


def _follow(served: Served, login: str, table: str, rid: str, label: str, arg: str) -> None:
    """``login`` follows the ``label`` button of row ``rid``: the method's ordinary signing
    form, prefilled with the row (``arg``), which commits."""
    with served.web(login) as web:
        href = _buttons(served, login, table, rid)[label]
        path = href.split("?", 1)[0]
        fields = form_fields(web.get(href).text, path)
        assert fields.get(arg) == rid and fields.get("csrf") and fields.get("once"), fields
        r = web.post(path, data=fields)
        assert r.status_code == 200 and "Committed" in r.text, r.text[-3000:]


def _place(served: Served, oid: str) -> None:
    now = int(time.time() * 1000)
    assert served.call("customer", "orders", "place", {
        "id": oid, "seller": served.did("supplier-a"), "product": SELLER_PRODUCT,
        "quantity": 1, "unit_price": 1850, "freight": 800, "currency": "CNY",
        "earliest": now, "latest": now + 3 * DAY})["ok"]


def _order_state(served: Served, oid: str) -> str:
    [row] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return str(row["state"])


def test_admin_and_seller_buttons_follow_the_parties_being_revoked(served: Served) -> None:
    svc = served.service
    assert (svc.rules_version("orders"), svc.rules_version("privacy")) == (LATEST_ORDERS, 2)
    financed, plain = "B16-1", "B16-2"
    _place(served, financed)
    _place(served, plain)
    financier = served.did("financier")
    assert served.call("bank", "payments", "deposit", {
        "account": financier, "currency": "CNY", "amount": 10_000,
        "reference": "working capital"})["ok"]
    assert served.call("supplier-a", "credit", "request_financing", {
        "order": financed, "financier": financier, "amount": 1000, "repay": 1050})["ok"]
    assert served.call("financier", "credit", "decide",
                       {"order": financed, "approve": True})["ok"]
    assert served.call("customer", "privacy", "publish", {
        "record": RECORD, "commitment": "cd" * 32, "recipients": []})["ok"]

    # Everyone active: the seller may not cancel the financed order, the admin nothing.
    assert _seen(served, "orders", financed, "supplier-a", "admin") == {
        "supplier-a": ["Dispatch", "Reschedule"], "admin": []}
    assert _seen(served, "orders", plain, "admin")["admin"] == []
    assert _seen(served, "private_records", RECORD, "admin")["admin"] == []
    refused = served.call("admin", "privacy", "erase", {"record": RECORD})
    assert refused["error"]["code"] == "forbidden", refused

    # The buyer (the record's author) revoked: the seller cancels its financed order, the
    # admin erases the record, but does not cancel while the seller is active.
    assert served.call("admin", "identity", "revoke",
                       {"did": served.did("customer"), "reason": "left"})["ok"]
    assert "Cancel" in _buttons(served, "supplier-a", "orders", financed)
    assert _seen(served, "orders", financed, "admin")["admin"] == []
    refused = served.call("admin", "orders", "cancel", {"order": financed})
    assert "still active" in refused["error"]["message"], refused
    assert _seen(served, "private_records", RECORD, "admin")["admin"] == ["Erase"]
    assert _buttons(served, "supplier-a", "private_records", RECORD) == {}  # not an admin
    _follow(served, "admin", "private_records", RECORD, "Erase", "record")
    [rec] = svc.reads.rows("private_records", 1, None, {"id": RECORD}).items
    assert rec["status"] == "erased"
    assert _buttons(served, "admin", "private_records", RECORD) == {}

    # The seller revoked too: the admin cancels either order from its row.
    assert served.call("admin", "identity", "revoke",
                       {"did": served.did("supplier-a"), "reason": "closed"})["ok"]
    assert _buttons(served, "admin", "orders", financed).keys() == {"Cancel"}
    assert _buttons(served, "financier", "orders", plain) == {}  # not an admin
    _follow(served, "admin", "orders", plain, "Cancel", "order")
    _follow(served, "admin", "orders", financed, "Cancel", "order")
    assert (_order_state(served, plain), _order_state(served, financed)) == (
        "cancelled", "cancelled")
    assert _buttons(served, "admin", "orders", plain) == {}


def test_a_page_of_private_records_reads_the_state_in_a_few_queries(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Erase check reads the records and their authors a round of keys at a time, as
    the order rows do (it read two keys per row, one query each)."""
    calls = count_row_button_reads(served.service.node.store, monkeypatch)
    with served.web("admin") as web:
        page = web.get("/tables/private_records").text
    assert page.count("<tr>") >= 2  # the demo's shared records
    assert 1 <= calls["get_states"] <= ROUNDS
    assert calls["get_state"] == 0


def test_a_ledger_on_older_rules_offers_none_until_its_admins_adopt_the_newer(
        tmp_path: Path) -> None:
    """The API tests' world, its genesis written under orders v2 and privacy v1 (the node
    runs this release): the buyer, then the seller revoked, where the newer rules would
    offer the seller's and the admin's Cancel and the admin's Erase, the pages offer none,
    as the contract refuses them; adopted, they appear."""
    with served_older_world(tmp_path / "ledger", {"orders": 2, "privacy": 1}) as served:
        w, svc = served.world, served.world.service
        assert (svc.rules_version("orders"), svc.rules_version("privacy")) == (2, 1)
        w.keys["financier"] = generate("ed25519")
        w.ok("admin", "identity", "register_org", {"id": "fund", "name": "Fund",
                                                   "roles": ["financier"]})
        w.ok("admin", "identity", "register_member", {
            "org": "fund", "public_key": w.keys["financier"].public.b64, "name": "Fund",
            "roles": ["financier"]})
        for who in ("customer", "financier"):
            w.ok("bank", "payments", "deposit", {"account": w.did(who), "currency": "CNY",
                                                 "amount": 100_000})
        w.ok("mill", "products", "declare_for_sale", {"id": WHEAT})
        now = wall_clock_ms()
        financed, plain = "B16-1", "B16-2"
        for oid in (financed, plain):
            w.ok("customer", "orders", "place", {
                "id": oid, "seller": w.did("mill"), "product": WHEAT, "quantity": 1,
                "unit_price": 1850, "freight": 800, "currency": "CNY", "earliest": now,
                "latest": now + 3 * DAY})
        w.ok("mill", "credit", "request_financing", {
            "order": financed, "financier": w.did("financier"), "amount": 1000,
            "repay": 1050})
        w.ok("financier", "credit", "decide", {"order": financed, "approve": True})
        w.ok("customer", "privacy", "publish", {"record": RECORD, "commitment": "cd" * 32,
                                                "recipients": []})

        def refused(who: str, contract: str, method: str, args: dict[str, str]) -> None:
            r = w.node.submit(w.tx(who, contract, method, args)).result(30)
            assert not r.ok and r.error["code"] == "forbidden", r.error

        w.ok("admin", "identity", "revoke", {"did": w.did("customer"), "reason": "left"})
        # The seller may cancel its plain order only (v2: the financier's collateral).
        assert "Cancel" in _buttons(served, "mill", "orders", plain)
        assert "Cancel" not in _buttons(served, "mill", "orders", financed)
        refused("mill", "orders", "cancel", {"order": financed})
        assert _buttons(served, "admin", "private_records", RECORD) == {}
        refused("admin", "privacy", "erase", {"record": RECORD})
        w.ok("admin", "identity", "revoke", {"did": w.did("mill"), "reason": "closed"})
        for oid in (plain, financed):
            assert _seen(served, "orders", oid, "admin") == {"admin": []}
            refused("admin", "orders", "cancel", {"order": oid})

        for contract, version in (("orders", LATEST_ORDERS), ("privacy", 2)):
            w.ok("admin", "rules", "adopt", {"contract": contract, "version": version})
        for oid in (plain, financed):
            assert _buttons(served, "admin", "orders", oid).keys() == {"Cancel"}
        assert _seen(served, "private_records", RECORD, "admin") == {"admin": ["Erase"]}
