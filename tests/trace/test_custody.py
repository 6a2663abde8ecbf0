"""custody: owner and custodian apart; propose -> accept / reject / cancel; histories."""

from __future__ import annotations

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import gtin

from .conftest import error_of, sql


def _batch(c: Consortium) -> tuple[dict[str, Party], str]:
    c.org("mill", ["manufacturer"])
    c.org("carrier", ["transporter"])
    c.org("shop", ["platform"])
    p = {"mill": c.member("mill", "mill", ["manufacturer"]),
         "carrier": c.member("carrier", "carrier", ["transporter"]),
         "shop": c.member("shop", "shop", ["platform"])}
    g = gtin("690123400002")
    c.ok(p["mill"], "products", "create_product", {"gtin": g, "name": "Flour"})
    return p, c.ok(p["mill"], "products", "create_batch", {"gtin": g, "lot": "B1"})["batch"]


def test_hand_over_custody_and_ownership_separately(consortium: Consortium) -> None:
    c = consortium
    p, b = _batch(c)
    pid = c.ok(p["mill"], "custody", "propose", {"batch": b, "to": p["carrier"].did,
                                                 "kind": "custody",
                                                 "terms": {"deliver_by": "2026-02-01"}})
    pid = pid["proposal"]
    assert error_of(c, p["mill"], "custody", "propose", {
        "batch": b, "to": p["shop"].did, "kind": "ownership"}).code == "invalid_state"
    assert error_of(c, p["shop"], "custody", "accept", {"proposal": pid}).code == "forbidden"
    res = c.ok(p["carrier"], "custody", "accept", {"proposal": pid})
    assert res == {"batch": b, "owner": p["mill"].did, "custodian": p["carrier"].did}
    assert error_of(c, p["carrier"], "custody", "accept",
                    {"proposal": pid}).code == "invalid_state"
    # custody not held: the mill no longer holds the goods, the carrier does not own them
    assert error_of(c, p["mill"], "custody", "propose", {
        "batch": b, "to": p["shop"].did, "kind": "custody"}).code == "forbidden"
    assert error_of(c, p["carrier"], "custody", "propose", {
        "batch": b, "to": p["shop"].did, "kind": "both"}).code == "forbidden"
    own = c.ok(p["mill"], "custody", "propose", {"batch": b, "to": p["shop"].did,
                                                 "kind": "ownership"})["proposal"]
    c.ok(p["shop"], "custody", "accept", {"proposal": own})
    assert sql(c, "SELECT owner, custodian, custodian_org FROM custody_holdings") == [
        (p["shop"].did, p["carrier"].did, "carrier")]
    hist = sql(c, "SELECT kind, frm, to_ FROM custody_history ORDER BY height")
    assert hist == [("created", "", p["mill"].did), ("custody", p["mill"].did, p["carrier"].did),
                    ("ownership", p["mill"].did, p["shop"].did)]


def test_reject_cancel_and_unknowns(consortium: Consortium) -> None:
    c = consortium
    p, b = _batch(c)
    args = {"batch": b, "to": p["carrier"].did, "kind": "both"}
    pid = c.ok(p["mill"], "custody", "propose", args)["proposal"]
    assert error_of(c, p["shop"], "custody", "reject", {"proposal": pid}).code == "forbidden"
    c.ok(p["carrier"], "custody", "reject", {"proposal": pid, "reason": "no truck"})
    pid2 = c.ok(p["mill"], "custody", "propose", args)["proposal"]
    assert error_of(c, p["carrier"], "custody", "cancel", {"proposal": pid2}).code == "forbidden"
    c.ok(p["mill"], "custody", "cancel", {"proposal": pid2})
    assert error_of(c, p["carrier"], "custody", "accept",
                    {"proposal": pid2}).code == "invalid_state"
    assert sorted(sql(c, "SELECT status, reason FROM custody_proposals")) == [
        ("cancelled", ""), ("rejected", "no truck")]
    assert sql(c, "SELECT custodian FROM custody_holdings") == [(p["mill"].did,)]
    assert error_of(c, p["mill"], "custody", "propose", {**args, "batch": b + "x"}).code == \
        "not_found"
    assert error_of(c, p["mill"], "custody", "propose", {**args, "to": "did:sl:nobody"}).code \
        == "not_found"
    assert error_of(c, p["mill"], "custody", "accept", {"proposal": "0" * 32}).code == \
        "not_found"
