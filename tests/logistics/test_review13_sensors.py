"""Review 13, sensors rules v3 on a real embedded node (new ledgers start on it):

* whoever owned some batch could bind a logger to anyone's shipment, naming that batch,
  and its positions moved the shipment: progress, ETA and lateness;
* a logger's own key (a member of its organisation with role ``device``) could widen the
  rule it is measured against, bind, or unbind itself;
* an excursion still within its allowance vanished with the binding: a logger that went
  silent out of range, unbound hours later, left no breach.

Ledgers on v2 keep their recorded outcomes (in-memory executor, last test)."""

from __future__ import annotations

from typing import Any

import pytest

from commerce.conftest import World as Memory
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.encoding import decode
from supplyledger.node.audit import run_audit

from ._sensors_world import MIN, RULE, T0, World, gtin, picked_up_order, temps, world

__all__ = ["world"]
H = 60 * MIN
A = {"node": "DEPOT-A", "lat": 50_000_000, "lon": 10_000_000}
B = {"node": "HUB-B", "lat": 51_080_000, "lon": 10_000_000}
LEG = {"from": A, "to": B, "distance_m": 120_000, "mode": "road",
       "vehicle_class": "rigid_7.5_17t"}


def _state(w: World, key: str) -> Any:
    raw = w.c.node.store.get_state(key)
    return None if raw is None else decode(raw)


def _shipment(w: World, sid: str, **extra: Any) -> None:
    w.c.ok(w.carrier, "shipments", "create", {
        "id": sid, "transporter": w.carrier.did, "mass_kg": 800, "legs": [LEG],
        "promised": T0 + 3 * H, **extra})


def test_a_logger_watches_only_goods_its_shipment_carries(world: World) -> None:
    c = world.c
    _shipment(world, "S1", batches=[world.batch])
    world.clock.t = T0 + MIN
    c.ok(world.carrier, "shipments", "depart", {"shipment": "S1"})
    before = _state(world, "shipments/s/S1")
    # A stranger owns a batch of its own, and a logger.
    c.org("other", ["manufacturer", "device"])
    other = c.member("other", "other", ["manufacturer"])
    c.ok(other, "products", "create_product", {"gtin": gtin(2), "name": "paint"})
    lot = c.ok(other, "products", "create_batch", {"gtin": gtin(2), "lot": "P1"})["batch"]
    dev = world.new_device("other")
    err = world.refused(other, "sensors", "bind", {
        "device": dev.did, "kind": "shipment", "target": "S1", "batches": [lot]})
    assert err.code == "validation_error" and "does not carry batch" in err.message
    assert _state(world, f"sensors/d/{dev.did}")["bind"] is None
    # Its logger would have put S1 back near the depot, 40 min after departure.
    world.clock.t = T0 + 41 * MIN
    assert not world.send([{"t": T0 + 40 * MIN, "lat": 50_000_100, "lon": 10_000_000,
                            "temp": 5000}], device=dev).ok
    assert _state(world, "shipments/s/S1") == before
    # The owner of the goods on board may still name them.
    mine = world.new_device()
    assert c.ok(world.maker, "sensors", "bind", {
        "device": mine.did, "kind": "shipment", "target": "S1",
        "batches": [world.batch]})["batches"] == [world.batch]


def test_an_orders_lot_counts_as_carried(world: World) -> None:
    picked_up_order(world, "o-1", world.batch, deposit=100_000)
    _shipment(world, "S2", orders=[{"order": "o-1", "mass_kg": 10}])
    dev = world.new_device()
    bound = world.c.ok(world.maker, "sensors", "bind", {
        "device": dev.did, "kind": "shipment", "target": "S2", "batches": [world.batch]})
    assert bound["shipment"] == "S2" and bound["batches"] == [world.batch]


def test_a_loggers_key_cannot_act_for_its_organisation(world: World) -> None:
    dev = world.device  # a member of the maker's organisation, with role device
    key = dev.key
    wide = {"scope": "product", "target": world.gtin,
            "temp": {"min": -20_000, "max": 40_000, "excursion_ms": 30 * MIN}}
    # A key holding role device beside a person's role: sensors rules v3 refuse it. (A key
    # with only machine roles, like the logger's, identity rules v3 refuse first.)
    mixed = world.c.member("mixed", "maker", ["device", "manufacturer"]).key
    for method, args in (("set_rule", wide), ("unbind", {"device": dev.did}),
                         ("bind", {"device": world.new_device().did, "kind": "batch",
                                   "target": world.batch})):
        err = world.refused(mixed, "sensors", method, args)
        assert err.code == "forbidden" and "device signs reading batches only" in (
            err.message), method
        err = world.refused(key, "sensors", method, args)
        assert err.code == "role_denied" and "machine key" in err.message, method
    assert _state(world, f"sensors/r/p/{world.gtin.zfill(14)}")["v"] == 1
    assert _state(world, f"sensors/d/{dev.did}")["bind"] is not None
    # the organisation's people still may
    world.c.ok(world.maker, "sensors", "set_rule", wide)
    world.c.ok(world.maker, "sensors", "unbind", {"device": dev.did})


def test_an_excursion_gone_silent_is_a_breach_when_its_logger_is_unbound(
        world: World) -> None:
    # 12 °C for 10 minutes (the allowance is 30), then nothing: the logger stopped
    # reporting temperature. Unbound four hours later, it was never seen back in range.
    assert world.ok(temps(T0, 12_000, 12_500, 12_000, step=5 * MIN))["breaches"] == []
    world.clock.t = T0 + 4 * H
    world.c.ok(world.maker, "sensors", "unbind", {"device": world.device.did})
    [row] = world.breaches()
    assert (row["kind"], row["started"], row["ended"], row["worst"]) == (
        "temp", T0, T0 + 4 * H, 12_500)
    assert "for 240 min" in row["detail"]
    marks = _state(world, f"sensors/x/{world.batch}")
    assert marks["open"] == [] and marks["last_end"] == [T0 + 4 * H, row["id"]]
    assert run_audit(world.c.dir).ok


def test_an_excursion_within_its_allowance_at_the_unbind_is_no_breach(world: World) -> None:
    world.ok(temps(T0, 12_000, 12_000, step=5 * MIN))
    world.clock.t = T0 + 25 * MIN
    world.c.ok(world.maker, "sensors", "unbind", {"device": world.device.did})
    assert world.breaches() == []


@pytest.mark.parametrize(("hot_at", "breach"), [(110 * MIN, False), (80 * MIN, True)])
def test_a_shipment_loggers_excursion_counts_until_the_delivery(
        world: World, hot_at: int, breach: bool) -> None:
    # Out of range from ``hot_at``; delivered at 2 h; the logger is unbound at 10 h. The
    # goods left the carrier at the delivery, so the excursion counts until then: 10 min
    # (no breach) or 40 min (a breach of the 30-minute allowance).
    c = world.c
    _shipment(world, "S3", batches=[world.batch])
    dev = world.new_device("haul")
    c.ok(world.maker, "sensors", "bind", {"device": dev.did, "kind": "shipment",
                                          "target": "S3"})
    world.clock.t = T0 + MIN
    c.ok(world.carrier, "shipments", "depart", {"shipment": "S3"})
    assert world.send(temps(T0 + hot_at, 12_000), device=dev).ok
    world.clock.t = T0 + 2 * H
    c.ok(world.carrier, "shipments", "deliver", {"shipment": "S3"})
    world.clock.t = T0 + 10 * H
    c.ok(world.maker, "sensors", "unbind", {"device": dev.did})
    rows = world.breaches()
    assert [(r["started"], r["ended"]) for r in rows] == (
        [(T0 + hot_at, T0 + 2 * H)] if breach else [])


def _memory_world(version: int) -> tuple[Memory, dict[str, str]]:
    """An in-memory ledger on sensors rules ``version``: a shipment S1, a stranger's lot
    and a maker whose logger (role device) is a member of its organisation."""
    w = Memory()
    for v in range(2, version + 1):
        w.ok(w.admin, "rules", "adopt", {"contract": "sensors", "version": v})
    carrier, stranger = w.participant("transporter"), w.participant("manufacturer")
    lot = w.batch(stranger, 1, "X")
    w.ok(carrier, "shipments", "create", {"id": "S1", "transporter": carrier, "mass_kg": 9,
                                          "legs": [LEG], "promised": T0 + 3 * H})
    w.ok(w.admin, "identity", "register_org", {"id": "mk", "name": "M",
                                               "roles": ["manufacturer", "device"]})
    maker, logger = generate("ed25519"), generate("ed25519")
    for k, name, roles in ((maker, "maker", ["manufacturer"]), (logger, "dev", ["device"])):
        w.ok(w.admin, "identity", "register_member", {
            "org": "mk", "public_key": k.public.b64, "name": name, "roles": roles})
    w.ok(w.admin, "sensors", "register_device", {"device": logger.did})
    w.batch(maker.did, 2, "Y")
    w.ok(maker.did, "sensors", "set_rule", {"scope": "product", "target": gtin(2),
                                            "temp": RULE})
    return w, {"stranger": stranger, "lot": lot, "logger": logger.did}


def test_ledgers_on_sensors_v2_keep_their_outcomes() -> None:
    for version, ok in ((2, True), (3, False)):
        w, p = _memory_world(version)
        bind = w.call(p["stranger"], "sensors", "bind", {
            "device": p["logger"], "kind": "shipment", "target": "S1", "batches": [p["lot"]]})
        rule = w.call(p["logger"], "sensors", "set_rule", {
            "scope": "product", "target": gtin(2), "temp": {"min": 0, "max": 30_000}})
        assert (bind["ok"], rule["ok"]) == (ok, ok), (version, bind, rule)
