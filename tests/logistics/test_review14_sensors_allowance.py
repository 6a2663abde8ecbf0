"""Review 14, sensors rules v4 on a real embedded node: a cold-chain allowance is the
batch's, not the logger's.

Under rules v3 a logger kept its excursions and lost them when unbound, so unbinding and
binding it again (or swapping two loggers) every 29 minutes restarted the 30-minute
allowance: the batch sat warm for hours with no breach. Under v4 the excursion stays on the
batch, every logger watching it goes on with it, and only a reading back in range ends it.
Ledgers made on v3 keep their outcomes until they adopt v4 (``rules.adopt``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench import consortium
from supplyledger.contracts.registry import load_builtin
from supplyledger.ingest.device import DeviceClient
from supplyledger.ledger.encoding import decode
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger

from ._sensors_world import MIN, T0, World, build_world, temps

H = 60 * MIN
WARM = 12_000  # m°C, above the world's 2-8 °C band (30 minutes allowed)


def _on(version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The sensors world on a ledger made with sensors rules v3 or v4 (by an older
    release's genesis)."""
    if version < 5:  # new ledgers start on v5, which keeps v4's allowance
        old = {n: replace(c, versions=tuple(range(1, version + 1))) if n == "sensors" else c
               for n, c in load_builtin().items()}
        monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=old))
    for w in build_world(tmp_path / "ledger"):
        assert decode(w.c.node.store.get_state("rules/v/sensors") or b"1") == version
        yield w


@pytest.fixture(params=[3, 4], ids=["v3", "v4"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, World]]:
    for w in _on(request.param, tmp_path, monkeypatch):
        yield request.param, w


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _on(4, tmp_path, monkeypatch)


@pytest.fixture
def v3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _on(3, tmp_path, monkeypatch)


def _state(w: World, key: str) -> Any:
    raw = w.c.node.store.get_state(f"sensors/{key}")
    return None if raw is None else decode(raw)


def _bind(w: World, dev: DeviceClient, *batches: str) -> None:
    w.c.ok(w.maker, "sensors", "bind", {"device": dev.did, "kind": "batch",
                                        "target": batches[0] if batches else w.batch,
                                        "batches": list(batches[1:])})


def _unbind(w: World, dev: DeviceClient, at: int) -> None:
    w.clock.t = at
    w.c.ok(w.maker, "sensors", "unbind", {"device": dev.did})


def _rebinding_loop(w: World, loggers: list[DeviceClient], start: int, cycles: int) -> int:
    """Every 29 minutes from ``start`` the batch's logger is unbound and the next of
    ``loggers`` (round robin) bound; each reports 12 °C every 5 minutes while bound (25
    minutes a binding, within the allowance). The first is bound already. Returns the time
    the last one was unbound."""
    t = start
    for k in range(cycles):
        dev = loggers[k % len(loggers)]
        if k:
            w.clock.t = t
            _bind(w, dev)
        assert w.ok(temps(t, *[WARM] * 6), device=dev)["seq"] > 0
        _unbind(w, dev, t + 29 * MIN)
        t += 29 * MIN
    return t


@pytest.mark.parametrize("swap", [False, True], ids=["one logger", "two loggers"])
def test_rebinding_every_29_minutes_no_longer_restarts_the_allowance(
        ledger: tuple[int, World], swap: bool) -> None:
    version, w = ledger
    loggers = [w.device, w.new_device()] if swap else [w.device]
    end = _rebinding_loop(w, loggers, T0, 6)  # 174 minutes at 12 °C
    last = loggers[6 % len(loggers)]
    _bind(w, last)
    w.ok(temps(end, 5000), device=last)  # back in range at last
    rows = w.breaches()
    if version == 3:  # the hole: each binding's excursion vanished with it
        assert rows == []
    else:  # one excursion, from the first warm reading to the first back in range
        [row] = rows
        assert (row["started"], row["ended"], row["worst"]) == (T0, end, WARM)
        assert "for 174 min" in row["detail"]
        marks = _state(w, f"x/{w.batch}")
        assert marks["n"] == 1 and marks["open"] == [] and marks["last_end"] == [end, row["id"]]
        assert _state(w, f"w/{w.batch}") is None  # nothing open on the batch any more
    assert run_audit(w.c.dir).ok


def test_a_breach_an_unbind_closed_opens_again_when_the_next_logger_sees_it_warm(
        world: World) -> None:
    w = world
    [bid] = w.ok(temps(T0, *[WARM] * 8))["breaches"]  # 35 minutes: a breach, open
    _unbind(w, w.device, T0 + 40 * MIN)
    marks = _state(w, f"x/{w.batch}")
    # closed at its last warm reading, held (for payouts) until the unbind
    assert marks["open"] == [] and marks["last_end"] == [T0 + 40 * MIN, bid]
    other = w.new_device()
    _bind(w, other)
    assert w.ok(temps(T0 + 45 * MIN, WARM), device=other)["breaches"] == [bid]
    assert _state(w, f"x/{w.batch}")["open"] == [bid]
    assert [r["ended"] for r in w.breaches()] == [None]
    assert w.ok(temps(T0 + 50 * MIN, 5000), device=other)["breaches"] == [bid]
    [row] = w.breaches()
    assert (row["id"], row["started"], row["ended"]) == (bid, T0, T0 + 50 * MIN)
    assert _state(w, f"x/{w.batch}")["open"] == []
    assert run_audit(w.c.dir).ok


def test_a_second_logger_goes_on_with_the_excursion_the_first_is_reporting(
        world: World) -> None:
    w = world
    second = w.new_device(bind_to=w.batch)
    assert w.ok(temps(T0, *[WARM] * 5))["breaches"] == []  # 20 minutes, first logger
    # The second logger's warm readings go on with it: 35 minutes at T0 + 35 min.
    [bid] = w.ok(temps(T0 + 25 * MIN, *[WARM] * 3), device=second)["breaches"]
    assert w.breaches()[0]["started"] == T0
    # Its reading back in range ends it, for every logger on the batch: the first one's
    # next warm readings start a new excursion, with a whole allowance.
    assert w.ok(temps(T0 + 45 * MIN, 5000), device=second)["breaches"] == [bid]
    assert w.ok(temps(T0 + 50 * MIN, *[WARM] * 6, 5000))["breaches"] == []  # 50 .. 80
    [row] = w.breaches()
    assert (row["started"], row["ended"]) == (T0, T0 + 45 * MIN)
    assert _state(w, f"d/{w.device.did}")["ex"] == {} == _state(w, f"d/{second.did}")["ex"]
    assert run_audit(w.c.dir).ok


def test_short_excursions_ended_by_a_reading_in_range_are_no_breach(
        ledger: tuple[int, World]) -> None:
    _, w = ledger
    # 20 minutes warm, back in range; the logger swapped; 25 minutes warm, back in range.
    w.ok(temps(T0, *[WARM] * 5, 5000))
    _unbind(w, w.device, T0 + 30 * MIN)
    other = w.new_device()
    _bind(w, other)
    w.ok(temps(T0 + 30 * MIN, *[WARM] * 6, 5000), device=other)  # 30 minutes: allowed
    assert w.breaches() == []
    assert _state(w, f"w/{w.batch}") is None
    assert run_audit(w.c.dir).ok


def test_a_late_upload_in_range_does_not_end_a_later_excursion(world: World) -> None:
    w = world
    late = w.new_device(bind_to=w.batch)
    w.ok(temps(T0, *[WARM] * 6))  # warm from T0, last seen at T0 + 25 min
    # The other logger uploads readings in range from before that: they end nothing.
    w.ok(temps(T0 + 5 * MIN, 5000, 5000), device=late)
    [bid] = w.ok(temps(T0 + 35 * MIN, WARM))["breaches"]
    assert [(r["id"], r["started"]) for r in w.breaches()] == [(bid, T0)]


def test_an_excursion_open_at_the_unbind_counts_until_the_goods_are_seen_in_range(
        ledger: tuple[int, World]) -> None:
    version, w = ledger
    w.ok(temps(T0, *[WARM] * 5))  # 20 minutes warm, then the logger is taken off
    _unbind(w, w.device, T0 + 25 * MIN)
    assert w.breaches() == []  # 25 minutes until the unbind: within the allowance
    w.clock.t = T0 + 3 * H  # three hours with no logger, then one sees the goods cold
    other = w.new_device(bind_to=w.batch)
    w.ok(temps(T0 + 3 * H, 5000), device=other)
    rows = [(r["started"], r["ended"]) for r in w.breaches()]
    assert rows == ([] if version == 3 else [(T0, T0 + 3 * H)])


def test_batches_a_breach_marks_end_with_their_own_excursion(world: World) -> None:
    """One breach marks two batches; a second logger watching only one of them sees it
    back in range: that batch's mark ends, the other's goes on, and the breach record
    ends with the last."""
    w = world
    lot = w.new_batch("V2")
    pair = w.new_device()
    _bind(w, pair, w.batch, lot)
    single = w.new_device(bind_to=w.batch)
    [bid] = w.ok(temps(T0, *[WARM] * 9), device=pair)["breaches"]  # 40 minutes
    assert w.ok(temps(T0 + 45 * MIN, 5000), device=single)["breaches"] == [bid]
    assert _state(w, f"x/{w.batch}")["open"] == [] and _state(w, f"x/{lot}")["open"] == [bid]
    assert _state(w, f"b/{bid}")["ended"] is None
    # The pair's logger: the lot still warm until T0 + 60 min; the first batch warm again
    # from T0 + 50 min (a new excursion, 10 minutes: no breach).
    assert w.ok(temps(T0 + 50 * MIN, WARM, WARM, 5000), device=pair)["breaches"] == [bid]
    assert [(r["id"], r["ended"]) for r in w.breaches()] == [(bid, T0 + 45 * MIN)]
    assert [(r["id"], r["ended"]) for r in w.breaches(lot)] == [(bid, T0 + 60 * MIN)]
    assert _state(w, f"b/{bid}")["ended"] == T0 + 60 * MIN
    assert _state(w, f"x/{lot}")["open"] == []
    assert run_audit(w.c.dir).ok


def test_v4_adopted_on_a_v3_ledger_applies_from_its_block_on(v3: World) -> None:
    w = v3
    end = _rebinding_loop(w, [w.device], T0, 3)  # under v3: no breach
    assert w.breaches() == []
    # A binding whose excursion is under way when the consortium adopts v4 ...
    w.clock.t = end
    _bind(w, w.device)
    w.ok(temps(end, *[WARM] * 4))
    w.clock.t = end + 20 * MIN
    w.c.ok(w.c.admin, "rules", "adopt", {"contract": "sensors", "version": 4})
    # ... carries it over from the logger's v3 state to the batch, and the loop is caught.
    end = _rebinding_loop(w, [w.device], end + 20 * MIN, 2)
    [row] = w.breaches()
    assert row["started"] == T0 + 87 * MIN  # the binding under way at the adoption
    assert row["ended"] is not None  # closed at the last unbind, open on the batch
    assert _state(w, f"w/{w.batch}")["ex"]["temp"][0] == T0 + 87 * MIN
    assert _state(w, f"d/{w.device.did}")["ex"] == {}
    report = run_audit(w.c.dir)
    assert report.ok, report


def test_a_breach_open_in_a_loggers_v3_state_is_ended_under_v4(v3: World) -> None:
    w = v3
    [bid] = w.ok(temps(T0, *[WARM] * 8))["breaches"]  # open, in the logger's v3 state
    w.clock.t = T0 + 36 * MIN
    w.c.ok(w.c.admin, "rules", "adopt", {"contract": "sensors", "version": 4})
    # The first reading batch under v4 moves it to the batch; back in range ends it.
    assert w.ok(temps(T0 + 40 * MIN, 5000))["breaches"] == [bid]
    [row] = w.breaches()
    assert (row["id"], row["started"], row["ended"]) == (bid, T0, T0 + 40 * MIN)
    assert _state(w, f"x/{w.batch}")["open"] == [] and _state(w, f"w/{w.batch}") is None
    assert run_audit(w.c.dir).ok
