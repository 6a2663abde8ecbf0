"""Review 11 on a real embedded node: a new ledger runs orders, payments and fx rules v2;
a delivered order's dispute period ends at its release time, except while a cold-chain
breach holds the payout; the ledger audits clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logistics._sensors_world import DAY, MIN, T0, World, build_world, picked_up_order, temps
from supplyledger.bench.consortium import Party
from supplyledger.errors import InvalidState, ValidationError
from supplyledger.node.audit import run_audit


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path / "ledger")


def _delivered(w: World, oid: str, batch: str) -> Party:
    return picked_up_order(w, oid, batch, deposit=10_500)[0]


def test_a_new_ledger_closes_the_dispute_period_unless_a_breach_holds_the_payout(
        world: World) -> None:
    w, c = world, world.c
    buyer = _delivered(w, "o-1", w.batch)
    clean = w.new_batch("V2")
    _delivered(w, "o-2", clean)
    # 42 minutes above 8 °C: a breach on o-1's batch, none on o-2's.
    assert w.ok(temps(T0 + 20 * MIN, *[9000] * 10, 6000, step=MIN * 42 // 10))["breaches"]
    for oid in ("o-1", "o-2"):
        due = c.ok(w.carrier, "orders", "deliver", {"order": oid})["release_at"]
        assert due == w.clock() + 7 * DAY
    w.clock.t += 7 * DAY
    # o-2: the period is over; the buyer's silence was consent, so only release remains.
    err = w.refused(buyer, "orders", "dispute", {"order": "o-2", "reason": "late"})
    assert isinstance(err, InvalidState) and "dispute period ended" in err.message
    assert c.ok(w.carrier, "orders", "release", {"order": "o-2"})["state"] == "completed"
    # o-1: the breach holds the payout, so the buyer must still be able to object.
    w.refused(w.carrier, "orders", "release", {"order": "o-1"})
    assert c.ok(buyer, "orders", "dispute", {"order": "o-1", "reason": "too warm"})[
        "state"] == "disputed"
    # And no money in a made-up currency.
    err = w.refused(c.parties["bank"], "payments", "deposit",
                    {"account": buyer.did, "currency": "ZZZ", "amount": 1})
    assert isinstance(err, ValidationError)
    assert run_audit(c.dir).ok
