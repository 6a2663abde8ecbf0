"""Review 21: the demo's financier can fund what it approves. Supply Chain Finance Ltd held
no money, so when a seller asked it for an advance against an order in escrow ("Request
financing" on the order's row) its "Approve or decline" -> approve was refused on the
ledger for lack of funds. The bank now deposits its lending capital as commerce is set up.
Walked in the web UI against a week of the demo served on loopback: the seller asks on one
of the orders the demo leaves open, the financier approves from the financing row, and
when the buyer confirms receipt the escrow repays the financier first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP
from supplyledger.contracts.builtin.payments import read_balance
from web.test_review13_order_buttons import _buttons, _follow, _state
from web.test_review20_commerce_walk import _financing

served = demo_fixture("financing21", weeks=1, api=CHEAP)


def _balance(served: Served, login: str) -> int:
    return read_balance(served.service.node.store.get_state, served.did(login), "CNY")


def _open_order(served: Served) -> tuple[dict[str, Any], str]:
    """One of the orders the demo leaves open (placed, in escrow) that the demo customer
    (Alice) bought, and the lot its seller made for it (from the dispatch request)."""
    request = json.loads(Path(served.info.notes["open_orders"]["request"]).read_text(
        encoding="utf-8"))
    alice = served.did("customer")
    for oid in served.info.notes["open_orders"]["orders"]:
        [order] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
        if order["buyer"] == alice and order["state"] == "placed":
            return order, str(request["orders"][oid]["batch"])
    raise AssertionError("the demo left no open order of Alice's")


def _buttons_of(served: Served, login: str, oid: str) -> list[str]:
    with served.web(login) as web:
        return sorted(_buttons(web, oid))


def test_the_financier_approves_an_advance_and_the_escrow_repays_it(served: Served) -> None:
    order, batch = _open_order(served)
    oid, goods = str(order["id"]), int(order["unit_price"]) * int(order["quantity"])
    amount, repay = goods * 90 // 100, goods * 96 // 100
    capital, earned = _balance(served, "financier"), _balance(served, "supplier-a")
    assert capital > amount  # the bank deposited its lending capital

    _follow(served, "supplier-a", oid, "Request financing",
            financier=served.did("financier"), amount=str(amount), repay=str(repay))
    with served.web("financier") as web:
        href = _financing(web, oid)[0]["Approve or decline"]
        r = web.post("/contracts/credit/decide", data={
            **form_fields(web.get(href).text, "/contracts/credit/decide"),
            "approve": "true", "reason": "grade and escrow suffice"})
        # The old demo's financier held nothing: insufficient_funds, nothing advanced.
        assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
        assert _financing(web, oid)[0] == {}  # decided: nothing left to approve
    assert _balance(served, "financier") == capital - amount
    assert _balance(served, "supplier-a") == earned + amount
    assert "Cancel" not in _buttons_of(served, "supplier-a", oid)  # the escrow is collateral

    # The order goes its way; the buyer's confirmation settles the escrow.
    courier = served.did("courier")
    _follow(served, "supplier-a", oid, "Dispatch", transporter=courier,
            transport_no=f"T{oid}", batch=batch)
    _follow(served, "courier", oid, "Pick up")
    _follow(served, "courier", oid, "Deliver")
    _follow(served, "customer", oid, "Confirm receipt")
    assert _state(served, oid) == "completed"
    [lien] = served.service.reads.rows("financing", 1, None, {"order_id": oid}).items
    assert (lien["state"], lien["repaid"], lien["recovered"]) == ("repaid", repay, 0)
    assert _balance(served, "financier") == capital - amount + repay
    assert _balance(served, "supplier-a") == earned + amount + goods - repay
