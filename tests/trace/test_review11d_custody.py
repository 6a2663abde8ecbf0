"""custody, reviewed on a node: a new ledger runs custody rules v2, where an offer does not
outlive its proposer's revocation (nobody can cancel it any more, and it was accepted),
while offers to a revoked recipient are refused and its open ones withdrawn by the
proposer; the ledger audits clean."""

from __future__ import annotations

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import gtin
from supplyledger.node.audit import run_audit

from .conftest import error_of, sql


def _batch(c: Consortium) -> tuple[dict[str, Party], str]:
    c.org("mill", ["manufacturer"])
    c.org("carrier", ["transporter"])
    p = {"mill": c.member("mill", "mill", ["manufacturer"]),
         "carrier": c.member("carrier", "carrier", ["transporter"]),
         "other": c.member("other", "carrier", ["transporter"])}
    g = gtin("690123400002")
    c.ok(p["mill"], "products", "create_product", {"gtin": g, "name": "Flour"})
    return p, c.ok(p["mill"], "products", "create_batch", {"gtin": g, "lot": "B1"})["batch"]


def test_an_offer_lapses_with_its_proposer(consortium: Consortium) -> None:
    c = consortium
    p, b = _batch(c)
    pid = c.ok(p["mill"], "custody", "propose",
               {"batch": b, "to": p["carrier"].did, "kind": "both"})["proposal"]
    c.ok(c.admin, "identity", "revoke", {"did": p["mill"].did, "reason": "key stolen"})
    err = error_of(c, p["carrier"], "custody", "accept", {"proposal": pid})
    assert err.code == "invalid_state" and "lapsed" in err.message
    assert err.details == {"current": "lapsed", "proposer": p["mill"].did}
    c.ok(p["carrier"], "custody", "reject", {"proposal": pid, "reason": "lapsed"})
    assert sql(c, "SELECT owner, custodian FROM custody_holdings") == [
        (p["mill"].did, p["mill"].did)]
    assert sql(c, "SELECT status FROM custody_proposals") == [("rejected",)]
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings


def test_offers_to_a_revoked_recipient_are_refused_and_withdrawn(
        consortium: Consortium) -> None:
    c = consortium
    p, b = _batch(c)
    pid = c.ok(p["mill"], "custody", "propose",
               {"batch": b, "to": p["carrier"].did, "kind": "custody"})["proposal"]
    c.ok(c.admin, "identity", "revoke", {"did": p["carrier"].did, "reason": "left"})
    # The recipient can no longer answer; the open offer blocks others until withdrawn.
    assert error_of(c, p["mill"], "custody", "propose", {
        "batch": b, "to": p["other"].did, "kind": "custody"}).code == "invalid_state"
    c.ok(p["mill"], "custody", "cancel", {"proposal": pid})
    assert error_of(c, p["mill"], "custody", "propose", {
        "batch": b, "to": p["carrier"].did, "kind": "custody"}).code == "not_found"
    pid2 = c.ok(p["mill"], "custody", "propose",
                {"batch": b, "to": p["other"].did, "kind": "custody"})["proposal"]
    assert c.ok(p["other"], "custody", "accept", {"proposal": pid2})["custodian"] == \
        p["other"].did
