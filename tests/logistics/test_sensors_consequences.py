"""What a breach does: trace shows it as the faulty link with its reason, the order's
automatic payout is held for dispute (the buyer can still confirm), the projections
rebuild the same in an audit, and the readings export as a valid EPCIS 2.0 event."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from supplyledger.bench.flourmill import object_event
from supplyledger.cli.main import app
from supplyledger.contracts.builtin.sensors import readings_to_epcis
from supplyledger.epcis import validate_document
from supplyledger.errors import EPCISValidationError
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.audit import run_audit
from supplyledger.node.queries import TraceQueries
from supplyledger.store.sqlite import SQLiteStore

from ._sensors_world import DAY, MIN, RULE, T0, World, picked_up_order, temps, world

__all__ = ["world"]

WHEN = "2026-01-01T00:10:00.000+00:00"


def _order_to_delivery(w: World, oid: str, batch: str) -> tuple[object, object]:
    buyer, bank = picked_up_order(w, oid, batch, deposit=100_000)
    w.c.ok(w.carrier, "trace", "record_event", {"batch": batch, "event": object_event(
        WHEN, "departing", "in_transit", batch)})
    return buyer, bank


def _excursion(w: World, start: int) -> str:
    """42 minutes at up to 9.4 °C: a breach of the 30-minute allowance."""
    r = w.ok(temps(start, 9000, 9200, 9400, 9100, 9000, 9000, 9000, 9000, 9000, 9100, 6000,
                   step=MIN * 42 // 10))
    [bid] = r["breaches"]
    return str(bid)


def test_breach_is_the_faulty_link_in_trace(world: World) -> None:
    _order_to_delivery(world, "o-1", world.batch)
    bid = _excursion(world, T0 + 20 * MIN)
    q = TraceQueries(SQLiteStore(world.c.dir))
    res = q.trace(world.batch)
    first = res["faulty_link"]
    assert first["kind"] == "sensor" and first["breach"] == bid and first["verified"]
    assert first["link"] == "transport" and first["seq"] == 1
    assert first["reason"] == (f"sensor breach: temperature 9.4 °C above 8.0 °C for 42 min, "
                               f"device {world.device.did}")
    assert [e["faults"] for e in res["events"]] == [[]]  # the event itself is fine
    out = CliRunner().invoke(app, ["trace", world.batch, "--data", str(world.c.dir)])
    assert out.exit_code == 1
    assert "faulty link" in out.output and "temperature 9.4 °C above 8.0 °C" in out.output


def test_breach_holds_the_automatic_payout(world: World) -> None:
    buyer, _ = _order_to_delivery(world, "o-1", world.batch)
    clean = world.new_batch("V2")
    _order_to_delivery(world, "o-2", clean)
    bid = _excursion(world, T0 + 20 * MIN)
    for oid in ("o-1", "o-2"):
        world.c.ok(world.carrier, "orders", "deliver", {"order": oid})
    world.clock.t += 8 * DAY  # past the 7-day release period
    err = world.refused(world.carrier, "orders", "release", {"order": "o-1"})
    assert err.code == "invalid_state" and getattr(err, "breach", None) == bid
    assert "held for dispute" in err.message and "temperature 9.4 °C" in err.message
    assert world.c.ok(world.carrier, "orders", "release", {"order": "o-2"})["state"] == (
        "completed")
    assert world.c.ok(buyer, "orders", "confirm", {"order": "o-1"})["state"] == "completed"


def test_an_old_open_breach_holds_the_payout_after_many_newer_ones(world: World) -> None:
    # A second logger's excursion is still going on when the first logger has had 32 short
    # ones, all over before the order was placed: the open one must still hold the payout.
    # (A humidity one: from sensors rules v4 a temperature excursion is the batch's, and the
    # first logger's readings back in range would end it.)
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "product", "target": world.gtin, "temp": RULE,
        "hum": {"min": 300, "max": 800, "excursion_ms": 30 * MIN}})
    second = world.new_device(bind_to=world.batch)
    r = world.ok([{"t": T0 + (20 + 5 * i) * MIN, "hum": 900} for i in range(10)],
                 device=second)
    [still_open] = r["breaches"]
    for k in range(32):
        _excursion(world, T0 + (2 + k) * 60 * MIN)
    assert len(world.breaches()) == 33
    _order_to_delivery(world, "o-1", world.batch)
    world.c.ok(world.carrier, "orders", "deliver", {"order": "o-1"})
    world.clock.t += 8 * DAY
    err = world.refused(world.carrier, "orders", "release", {"order": "o-1"})
    assert err.code == "invalid_state" and getattr(err, "breach", None) == still_open
    # ... and trace still names it as the faulty link, though only the latest 32 are listed
    faulty = TraceQueries(SQLiteStore(world.c.dir)).trace(world.batch)["faulty_link"]
    assert faulty["breach"] == still_open
    assert run_audit(world.c.dir).ok


def test_breaches_over_before_the_order_do_not_hold_it(world: World) -> None:
    for k in range(3):
        _excursion(world, T0 + (2 + k) * 60 * MIN)
    _order_to_delivery(world, "o-1", world.batch)
    world.c.ok(world.carrier, "orders", "deliver", {"order": "o-1"})
    world.clock.t += 8 * DAY
    assert world.c.ok(world.carrier, "orders", "release", {"order": "o-1"})["state"] == (
        "completed")


def test_projections_rebuild_identically_in_an_audit(world: World) -> None:
    _excursion(world, T0 + 20 * MIN)
    world.c.ok(world.maker, "sensors", "unbind", {"device": world.device.did})
    report = run_audit(world.c.dir)
    assert report.ok, report


def test_committed_batch_exports_as_valid_epcis(world: World) -> None:
    readings = [{"t": T0, "temp": 5250, "hum": 455, "shock": 1200, "lat": 52_520_008,
                 "lon": 13_404_954}, {"t": T0 + MIN, "temp": 4000}]
    r = world.send(readings)
    raw = world.c.node.store.txs_by_id([r.tx_id])[r.tx_id][2]
    args = decode(envelope_bytes_of(raw)[0])["args"]
    event = readings_to_epcis(world.device.did, args["seq"], args["readings"],
                              batches=[world.batch], tx=r.tx_id)
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2026-01-01T00:00:00.000Z", "epcisBody": {"eventList": [event]}}
    validate_document(doc)
    reports = event["sensorElementList"][0]["sensorReport"]
    assert {(x["type"], x["uom"]) for x in reports} == {
        ("Temperature", "CEL"), ("RelativeHumidity", "P1"), ("Acceleration", "K40"),
        ("Angle", "DD")}
    assert [x["value"] for x in reports if x["type"] == "Temperature"] == [5.25, 4]
    assert [x["value"] for x in reports if x["type"] == "RelativeHumidity"] == [45.5]
    assert [x["value"] for x in reports if x.get("component") == "latitude"] == [52.520008]
    assert event["eventTime"] == "2026-01-01T00:01:00.000Z"
    assert event["sensorElementList"][0]["sensorMetadata"]["rawData"].endswith(r.tx_id)
    # the validator does check what we produce: a bad unit is refused
    reports[0]["uom"] = "celsius"
    try:
        validate_document(json.loads(json.dumps(doc)))
    except EPCISValidationError as exc:
        assert "uom" in exc.message
    else:
        raise AssertionError("an invalid unit passed validation")


def test_logger_on_a_shipment_moves_it_and_marks_its_batches(world: World) -> None:
    # A -> B 120 km north along the 10th meridian; the logger's last fix is halfway.
    a, b = {"node": "DEPOT-A", "lat": 50_000_000, "lon": 10_000_000}, {
        "node": "HUB-B", "lat": 51_080_000, "lon": 10_000_000}
    c = world.c
    c.ok(world.carrier, "shipments", "create", {
        "id": "S1", "transporter": world.carrier.did, "mass_kg": 800,
        "legs": [{"from": a, "to": b, "distance_m": 120_000, "mode": "road",
                  "vehicle_class": "rigid_7.5_17t"}],
        "batches": [world.batch], "promised": T0 + 3 * 3_600_000})
    dev = world.new_device("haul")
    c.org("depot", ["warehouse"])
    stranger = c.member("depot", "depot", ["warehouse"])  # neither carries nor holds it
    err = world.refused(stranger, "sensors", "bind", {"device": dev.did, "kind": "shipment",
                                                      "target": "S1"})
    assert err.code == "forbidden"
    # The carrier listed the lot on its own shipment but carries it for no order and holds
    # no custody of it: its logger must not mark the lot (nor hold its payouts).
    err = world.refused(world.carrier, "sensors", "bind", {
        "device": dev.did, "kind": "shipment", "target": "S1"})
    assert err.code == "forbidden" and "goods it carries" in err.message
    bound = c.ok(world.maker, "sensors", "bind", {"device": dev.did, "kind": "shipment",
                                                  "target": "S1"})
    assert bound == {"device": dev.did, "batches": [world.batch], "shipment": "S1"}
    world.clock.t = T0 + MIN
    c.ok(world.carrier, "shipments", "depart", {"shipment": "S1"})
    r = world.send([{"t": T0 + 30 * MIN, "lat": 50_270_000, "lon": 10_000_000, "temp": 5000},
                    {"t": T0 + 35 * MIN, "temp": 12000},
                    {"t": T0 + 70 * MIN, "lat": 50_540_000, "lon": 10_000_000, "temp": 12000}],
                   device=dev)
    assert r.ok and len(r.result["breaches"]) == 1
    s = decode(c.node.store.get_state("shipments/s/S1"))  # once per batch: the last fix
    assert s["pos_at"] == T0 + 70 * MIN and 59_000 < s["remaining_m"] < 61_000
    [row] = world.breaches()
    assert row["shipment"] == "S1" and row["device"] == dev.did
    res = TraceQueries(SQLiteStore(c.dir)).trace(world.batch)
    assert res["faulty_link"]["link"] == "transport"  # no trace event: a shipment logger
    assert run_audit(c.dir).ok
