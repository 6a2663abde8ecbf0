"""credit: an explainable, integer-only assessment from ledger history, and financing of
orders in escrow (approved or declined on it, repaid from the release)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from supplyledger.contracts.builtin._credit_model import WEIGHTS, assess
from supplyledger.ledger.encoding import canonical

from .conftest import DAY, Cast


def _sell(c: Cast, oid: str, n: int, *, late: bool = False) -> None:
    """One order of batch n from the seller to the buyer, delivered (late if asked)."""
    w = c.w
    b = w.batch(c.seller, n)
    assert c.place(oid, b, latest=w.time + DAY)["ok"]
    w.ok(c.seller, "orders", "dispatch",
         {"order": oid, "transporter": c.carrier, "transport_no": f"T-{oid}"})
    w.ok(c.carrier, "orders", "pickup", {"order": oid})
    w.ok(c.carrier, "orders", "deliver", {"order": oid}, time=w.time + (2 * DAY if late else 0))


def _factors(res: dict[str, Any]) -> dict[str, tuple[int, str, int]]:
    return {f["factor"]: (f["evidence"], f["value"], f["points"]) for f in res["factors"]}


def test_no_history_scores_nothing(cast: Cast) -> None:
    res = cast.w.ok(cast.financier, "credit", "assess", {"subject": cast.seller})
    assert res["score"] == 0 and res["grade"] == "D" and res["max"] == 1000
    assert sum(f["weight"] for f in res["factors"]) == 1000
    assert all(f["evidence"] == 0 and f["points"] == 0 for f in res["factors"])


def test_assessment_explains_every_factor_from_history(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.fund(c.financier, 10_000)
    _sell(c, "o1", 1)
    _sell(c, "o2", 2)
    _sell(c, "o3", 3, late=True)
    # o1 is financed and repaid from its release.
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o1", "financier": c.financier, "amount": 5_000, "repay": 5_100})
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": True})
    for oid in ("o1", "o2"):
        w.ok(c.buyer, "orders", "confirm", {"order": oid})
    w.ok(c.buyer, "orders", "dispute", {"order": "o3", "reason": "late and damaged"})
    w.ok(c.arbiter, "orders", "resolve", {"order": "o3", "refund": 10_000, "freight_paid": 500,
                                          "at_fault": "seller", "ownership": "seller"})
    res = w.ok(c.financier, "credit", "assess", {"subject": c.seller})
    # on time 2 of 3 -> 0.666 x 400; lost 1 of 3 (2 sales + 1 dispute) -> (1-0.333) x 250;
    # 1 financing repaid in full -> 200; 2 settled sales -> 0.020 x 150.
    assert _factors(res) == {"on_time_delivery": (3, "0.666", 266),
                             "disputes_lost": (3, "0.333", 166),
                             "payment_delays": (1, "0.000", 200),
                             "volume": (2, "0.020", 3)}
    assert res["score"] == 635 and res["grade"] == "B"
    assert res["volume"] == {"EUR": 20_000}
    stored = w.get(f"credit/a/{c.seller}")
    assert stored["score"] == 635 and stored["by"] == c.financier
    row = next(iter(w.tables["credit_assessments"].values()))
    assert row["score"] == 635 and '"on_time_delivery"' in row["factors"]
    # The buyer let nothing lapse; the transporter has its own record.
    t = w.ok(c.financier, "credit", "assess", {"subject": c.carrier})
    assert _factors(t)["on_time_delivery"] == (3, "0.666", 266)


def test_assess_rejections(cast: Cast) -> None:
    w = cast.w
    for who in (cast.seller, cast.buyer, cast.bank, w.admin):
        w.fail("role_denied", who, "credit", "assess", {"subject": cast.seller})
    w.fail("not_found", cast.financier, "credit", "assess", {"subject": "did:sl:nobody"})


@given(st.dictionaries(
    st.sampled_from(["deliveries", "on_time", "hauls", "hauls_on_time", "sales", "purchases",
                     "hauled", "disputes", "lost", "lapsed", "fin", "fin_short"]),
    st.integers(min_value=0, max_value=10**9)))
def test_assessment_is_integer_bounded_and_deterministic(stats: dict[str, int]) -> None:
    # Keep the counts consistent (a part never exceeds its whole).
    for part, whole in (("on_time", "deliveries"), ("hauls_on_time", "hauls"),
                        ("lost", "disputes"), ("fin_short", "fin")):
        stats[part] = min(stats.get(part, 0), stats.get(whole, 0))
    res = assess(stats)
    assert res == assess(dict(stats))
    canonical(res)  # only integers and strings: no float anywhere
    assert res["score"] == sum(f["points"] for f in res["factors"])
    assert 0 <= res["score"] <= 1000
    for f in res["factors"]:
        assert 0 <= f["points"] <= WEIGHTS[f["factor"]]
    better = dict(stats, on_time=stats.get("deliveries", 0),
                  hauls_on_time=stats.get("hauls", 0))
    assert assess(better)["score"] >= res["score"]


# -- financing --------------------------------------------------------------------------------

def test_financing_is_advanced_and_repaid_first_from_the_release(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.fund(c.financier, 8_000)
    _sell(c, "o1", 1)
    req = w.ok(c.seller, "credit", "request_financing",
               {"order": "o1", "financier": c.financier, "amount": 7_000, "repay": 7_300})
    assert req["assessment"]["grade"] in "ABCD" and len(req["assessment"]["factors"]) == 4
    assert w.tables["financing"][("o1",)]["state"] == "requested"
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": True})
    assert (w.balance(c.financier), w.balance(c.seller)) == (1_000, 7_000)
    err = w.fail("invalid_state", c.financier, "credit", "decide",
                 {"order": "o1", "approve": True})
    assert err["details"]["current"] == "approved"
    # Paid by the lapse path this time: anyone may release after the period.
    paid = w.ok(c.stranger, "orders", "release", {"order": "o1"}, time=w.time + 7 * DAY)["paid"]
    assert paid == {"seller": 2_700, "financier": 7_300, "buyer": 0, "transporter": 500}
    assert (w.balance(c.financier), w.balance(c.seller)) == (8_300, 9_700)
    assert w.get("credit/f/o1")["state"] == "repaid"
    assert w.tables["financing"][("o1",)]["state"] == "repaid"
    assert w.tables["financing"][("o1",)]["repaid"] == 7_300


def test_financing_falls_short_when_the_sale_is_cancelled(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.fund(c.financier, 5_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o1", "financier": c.financier, "amount": 5_000, "repay": 5_000})
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": True})
    w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    assert w.get("credit/f/o1")["state"] == "short" and w.get("credit/f/o1")["repaid"] == 0
    assert w.balance(c.buyer) == 100_000 and w.balance(c.financier) == 0
    st_ = w.get(f"orders/st/{c.seller}")
    assert (st_["fin"], st_["fin_short"]) == (1, 1)
    res = w.ok(c.financier, "credit", "assess", {"subject": c.seller})
    assert _factors(res)["payment_delays"] == (1, "1.000", 0)


def test_financing_rejections(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.fund(c.financier, 1_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)  # 10_000 of goods

    def req(who: str, **kw: Any) -> dict[str, Any]:
        return w.call(who, "credit", "request_financing",
                      {"order": "o1", "financier": c.financier, "amount": 2_000,
                       "repay": 2_000, **kw})

    assert req(c.buyer)["error"]["code"] == "forbidden"
    assert req(c.stranger)["error"]["code"] == "forbidden"
    assert req(c.seller, financier=c.bank)["error"]["code"] == "not_found"
    assert req(c.seller, repay=1_999)["error"]["code"] == "invalid_amount"
    assert req(c.seller, repay=10_001, amount=10_001)["error"]["code"] == "invalid_amount"
    assert req(c.seller, amount=0)["error"]["code"] == "invalid_amount"
    assert req(c.seller, order="nope")["error"]["code"] == "not_found"
    w.fail("not_found", c.financier, "credit", "decide", {"order": "o1", "approve": True})
    assert req(c.seller)["ok"]
    assert req(c.seller)["error"]["code"] == "already_exists"
    other = w.participant("financier")
    w.fail("forbidden", other, "credit", "decide", {"order": "o1", "approve": True})
    w.fail("role_denied", c.seller, "credit", "decide", {"order": "o1", "approve": True})
    err = w.fail("insufficient_funds", c.financier, "credit", "decide",
                 {"order": "o1", "approve": True})
    assert err["details"]["needed"] == 2_000
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": False, "reason": "risk"})
    assert w.get("credit/f/o1")["state"] == "declined" and w.balance(c.seller) == 0
    # A declined request neither pays nor is repaid.
    w.ok(c.seller, "orders", "cancel", {"order": "o1"})
    assert w.get("credit/f/o1")["state"] == "declined"
    # Settled orders cannot be financed.
    b2 = w.batch(c.seller, 2)
    c.place("o2", b2)
    w.ok(c.seller, "orders", "cancel", {"order": "o2"})
    err = w.fail("invalid_state", c.seller, "credit", "request_financing",
                 {"order": "o2", "financier": c.financier, "amount": 1, "repay": 1})
    assert err["details"]["current"] == "cancelled"
