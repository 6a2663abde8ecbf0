"""Every way a reading batch is refused, each with its specific error, nothing written, and
ingestion going on afterwards (the device's next good batch is accepted)."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.errors import (
    EncodingError,
    InvalidSignature,
    PayloadTooLarge,
    RoleDenied,
    SupplyLedgerError,
    ValidationError,
)
from supplyledger.ingest.device import DeviceClient
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import make_tx

from ._sensors_world import MIN, T0, World, temps, world

__all__ = ["world"]


def _device_state(w: World, did: str) -> Any:
    return decode(w.c.node.store.get_state(f"sensors/d/{did}"))


def _still_ingests(w: World, seq: int) -> None:
    """The device's state did not move, and its next good batch is accepted."""
    assert _device_state(w, w.device.did)["seq"] == seq - 1
    t = max(T0, _device_state(w, w.device.did)["last_t"] + 1)
    assert w.ok(temps(t, 5000), seq=seq)["seq"] == seq


def test_bad_signature_never_enters_a_block(world: World) -> None:
    raw = world.device.sign(temps(T0, 5000), seq=1).raw
    cut = raw.rindex(b'"sig":"') + 7
    forged = raw[:cut] + (b"A" if raw[cut:cut + 1] != b"A" else b"B") + raw[cut + 1:]
    height = world.c.node.height
    with pytest.raises(InvalidSignature):
        world.submit(forged)
    assert world.c.node.height == height
    _still_ingests(world, 1)


def test_unknown_and_unbound_devices(world: World) -> None:
    stranger = world.new_device(register=False)
    err = world.error(temps(T0, 5000), device=stranger)
    assert err["code"] == "not_found" and "unknown device" in err["message"]
    idle = world.new_device()
    err = world.error(temps(T0, 5000), device=idle)
    assert err["code"] == "invalid_state" and "not bound" in err["message"]
    assert _device_state(world, idle.did)["seq"] == 0
    _still_ingests(world, 1)


def test_only_devices_sign_readings(world: World) -> None:
    maker = DeviceClient(world.maker.key, world.c.chain, clock=world.clock)
    err = world.error(temps(T0, 5000), device=maker)
    assert err["code"] == RoleDenied.code and err["details"]["required"] == ["device"]
    _still_ingests(world, 1)


def test_duplicate_and_out_of_order_batches(world: World) -> None:
    world.ok(temps(T0, 5000, 5100))
    dup = world.error(temps(T0 + 20 * MIN, 5000), seq=1)
    assert dup["code"] == "already_exists" and dup["details"] == {"seq": 1, "last": 1}
    gap = world.error(temps(T0 + 30 * MIN, 5000), seq=3)
    assert gap["code"] == "invalid_state" and gap["details"]["expected"] == 2
    assert "out of order" in gap["message"]
    # the very same signed batch again is a replay, refused before any block
    world.clock.t = T0 + 41 * MIN
    tx = world.device.sign(temps(T0 + 40 * MIN, 5000), seq=2)
    assert world.submit(tx).ok
    with pytest.raises(Exception, match="already") as info:
        world.submit(tx)
    assert getattr(info.value, "code", "") == "replayed_tx"
    _still_ingests(world, 3)


def test_time_going_backwards_across_batches(world: World) -> None:
    world.ok(temps(T0 + 10 * MIN, 5000, 5100))
    err = world.error(temps(T0 + 15 * MIN, 5000), seq=2)  # before the last, at +15 min
    assert err["code"] == "invalid_state" and "not after the device's last" in err["message"]
    _still_ingests(world, 2)


IMPOSSIBLE: list[tuple[list[dict[str, Any]], str]] = [
    ([{"t": T0, "temp": 150_000}], "readings[0].temp must be between"),
    ([{"t": T0, "temp": -100_001}], "readings[0].temp must be between"),
    ([{"t": T0, "hum": 1200}], "readings[0].hum must be between"),
    ([{"t": T0, "shock": -1}], "readings[0].shock must be between"),
    ([{"t": T0, "lat": 91_000_000, "lon": 0}], "readings[0].lat must be between"),
    ([{"t": T0, "lat": 1, "lon": 181_000_000}], "readings[0].lon must be between"),
    ([{"t": T0, "lat": 1}], "a position needs both"),
    ([{"t": T0}], "measures nothing"),
    ([{"t": T0, "temp": 5000, "rpm": 3}], "unexpected argument readings[0].rpm"),
    ([{"t": T0, "temp": "5000"}], "readings[0].temp must be an integer"),
    ([{"t": T0, "temp": 5000}, {"t": T0, "temp": 5000}], "times must strictly increase"),
    ([{"t": T0 + 5, "temp": 5000}, {"t": T0, "temp": 5000}], "times must strictly increase"),
    ([], "readings must have 1-1000 items"),
    ([{"t": T0 + i, "temp": 5000} for i in range(1001)], "readings must have 1-1000 items"),
]


def test_impossible_values_and_malformed_batches(world: World) -> None:
    world.clock.t = T0 + 10_000
    height = world.c.node.height
    for readings, words in IMPOSSIBLE:  # stateless to check: refused before any block
        with pytest.raises(SupplyLedgerError) as info:
            world.send(readings, seq=1)
        assert info.value.code == "validation_error", info.value
        assert words in info.value.message, (words, info.value.message)
    assert world.c.node.height == height
    _still_ingests(world, 1)


def test_floats_cannot_even_be_submitted(world: World) -> None:
    # The canonical encoder refuses floats, so a device cannot sign one: forge the bytes
    # as a broken client would send them.
    tx = make_tx(world.device.key, chain=world.c.chain, contract="sensors", method="record",
                 args={"seq": 1, "readings": [{"t": T0, "temp": 5000}]},
                 time_ms=world.clock(), nonce="x")
    height = world.c.node.height
    with pytest.raises(EncodingError):
        world.submit(tx.raw.replace(b'"temp":5000', b'"temp":5000.5'))
    assert world.c.node.height == height
    _still_ingests(world, 1)


def test_readings_after_the_signature_time_are_refused(world: World) -> None:
    world.clock.t = T0
    height = world.c.node.height
    # sensors v5 (a new ledger's) refuses them at admission: no block records them
    with pytest.raises(ValidationError, match="after the transaction's own time"):
        world.submit(world.device.sign(temps(T0 + MIN, 5000), seq=1))
    assert world.c.node.height == height
    _still_ingests(world, 1)


def test_a_batch_over_the_transaction_size_limit_is_refused(world: World) -> None:
    big = [{"t": T0 + i, "temp": 5000, "hum": 500, "shock": 10, "lat": 52_000_000 + i,
            "lon": 13_000_000} for i in range(4000)]
    world.clock.t = T0 + 10_000
    with pytest.raises(PayloadTooLarge):
        world.submit(world.device.sign(big, seq=1))
    _still_ingests(world, 1)


def test_binding_rights(world: World) -> None:
    dev = world.new_device()
    err = world.refused(world.carrier, "sensors", "bind",
                        {"device": dev.did, "kind": "batch", "target": world.batch})
    assert err.code == "forbidden"
    err = world.refused(world.maker, "sensors", "bind",
                        {"device": dev.did, "kind": "shipment", "target": "no-such"})
    assert err.code == "not_found"
    err = world.refused(world.maker, "sensors", "bind",
                        {"device": world.device.did, "kind": "batch", "target": world.batch})
    assert err.code == "invalid_state" and "unbind it first" in err.message
    err = world.refused(world.carrier, "sensors", "set_rule", {
        "scope": "product", "target": world.gtin, "shock": {"max": 10}})
    assert err.code == "forbidden"
    err = world.refused(world.maker, "sensors", "set_rule", {
        "scope": "product", "target": world.gtin, "temp": {"min": 8000, "max": 2000}})
    assert err.code == "validation_error"
    world.c.ok(world.maker, "sensors", "unbind", {"device": world.device.did})
    assert world.error(temps(T0, 5000))["code"] == "invalid_state"


def test_container_binding(world: World) -> None:
    from supplyledger.gs1 import gs1_check_digit

    sscc = "34006381000000001" + str(gs1_check_digit("34006381000000001"))
    dev = world.new_device()
    bind = {"device": dev.did, "kind": "container", "target": sscc}
    assert world.refused(world.maker, "sensors", "bind", bind).code == "validation_error"
    bad = {**bind, "target": sscc[:-1] + str((int(sscc[-1]) + 1) % 10),
           "batches": [world.batch]}
    assert world.refused(world.maker, "sensors", "bind", bad).code == "validation_error"
    r = world.c.ok(world.maker, "sensors", "bind", {**bind, "batches": [world.batch]})
    assert r["batches"] == [world.batch]
    state = _device_state(world, dev.did)["bind"]
    assert state["target"] == f"https://id.gs1.org/00/{sscc}" and state["kind"] == "container"
    world.clock.t = T0 + 40 * MIN
    assert world.send(temps(T0, 9000, 9000, 9000, step=20 * MIN), device=dev).ok
    [row] = world.breaches()
    assert row["device"] == dev.did and row["shipment"] is None
