"""ratings: one 1-5 rating per delivered order, by its buyer; satisfaction per seller,
transporter and platform from state and from the projection."""

from __future__ import annotations

from supplyledger.contracts.builtin.ratings import average, satisfaction

from .conftest import Cast


def test_average_is_integer_rounded_half_up() -> None:
    assert [average(t, n) for t, n in ((13, 3), (9, 2), (5, 1), (14, 3), (0, 0))] == [
        "4.33", "4.50", "5.00", "4.67", ""]


def test_rating_a_delivered_order_feeds_satisfaction(cast: Cast) -> None:
    w, c = cast.w, cast
    shop = w.participant("platform")
    c.fund(c.buyer, 100_000)
    scores = [(5, None), (4, 2), (4, None)]
    for i, (score, t_score) in enumerate(scores):
        b = w.batch(c.seller, i + 1)
        c.to_delivered(f"o{i}", b, platform=shop)
        args = {"order": f"o{i}", "score": score}
        if t_score is not None:
            args["transporter_score"] = t_score
        w.ok(c.buyer, "ratings", "rate", args)
    # Rating does not need the payment: a delivered order can be rated.
    assert w.order("o0")["state"] == "delivered"
    assert satisfaction(w.read, "seller", c.seller) == {
        "role": "seller", "party": c.seller, "ratings": 3, "average": "4.33"}
    assert satisfaction(w.read, "transporter", c.carrier)["average"] == "3.67"
    assert satisfaction(w.read, "platform", shop)["average"] == "4.33"
    assert satisfaction(w.read, "seller", c.stranger) == {
        "role": "seller", "party": c.stranger, "ratings": 0, "average": ""}
    rows = w.tables["satisfaction"]
    assert rows[("seller", c.seller)] == {"role": "seller", "party": c.seller, "ratings": 3,
                                          "total": 13, "average": "4.33"}
    assert rows[("transporter", c.carrier)]["total"] == 11
    assert w.tables["ratings"][("o1",)]["transporter_score"] == 2


def test_rating_rejections(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)
    err = w.fail("invalid_state", c.buyer, "ratings", "rate", {"order": "o1", "score": 5})
    assert err["details"]["current"] == "placed"
    w.fail("not_found", c.buyer, "ratings", "rate", {"order": "nope", "score": 5})
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    for who in (c.seller, c.carrier, c.stranger):
        w.fail("forbidden", who, "ratings", "rate", {"order": "o1", "score": 5})
    for bad in (0, 6, -1, "5"):
        w.fail("validation_error", c.buyer, "ratings", "rate", {"order": "o1", "score": bad})
    w.ok(c.buyer, "ratings", "rate", {"order": "o1", "score": 1})
    w.fail("already_exists", c.buyer, "ratings", "rate", {"order": "o1", "score": 5})
    assert satisfaction(w.read, "seller", c.seller)["average"] == "1.00"
