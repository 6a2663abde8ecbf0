"""Cold-chain rules evaluated by the sensors contract: temperature band with an allowed
excursion carried across batches, humidity, shock, geofence, batch rules over product
rules; and the rule engine's edge cases on its own."""

from __future__ import annotations

import math

from supplyledger.contracts.builtin._sensors_model import prepare_record
from supplyledger.contracts.builtin._sensors_rules import cos_e9, evaluate, prepare_rule
from supplyledger.ledger.encoding import decode
from supplyledger.logistics.eta import GeoPoint, haversine_m

from ._sensors_world import MIN, T0, World, temps, world

__all__ = ["world"]


def test_excursion_within_allowance_is_no_breach(world: World) -> None:
    # 9 °C from minute 10 to 35, back in range at 35: 25 min out, 30 allowed.
    r = world.ok(temps(T0, 5000, 5000, *[9000] * 5, 5000, 5000))
    assert r == {"seq": 1, "readings": 9, "breaches": []}
    assert world.breaches() == []


def test_excursion_exceeding_allowance_across_batches(world: World) -> None:
    # Out of range from minute 15; the next batch carries the excursion on until minute 50
    # (35 min out: a breach, still open); the third brings it back at minute 57.
    assert world.ok(temps(T0, 5000, 5000, 5000, 9000, 9000))["breaches"] == []
    opened = world.ok(temps(T0 + 30 * MIN, 9200, 9400, 9100, 9000, 9000))
    [bid] = opened["breaches"]
    [row] = world.breaches()
    assert (row["id"], row["kind"], row["started"], row["ended"], row["worst"]) == (
        bid, "temp", T0 + 15 * MIN, None, 9400)
    assert row["rule"] == f"r/p/{world.gtin.zfill(14)}" and row["device"] == world.device.did
    assert "(ongoing)" in row["detail"]
    closed = world.ok([{"t": T0 + 57 * MIN, "temp": 6000}])
    assert closed["breaches"] == [bid]
    [row] = world.breaches()
    assert row["ended"] == T0 + 57 * MIN and row["worst"] == 9400
    assert row["detail"] == (f"sensor breach: temperature 9.4 °C above 8.0 °C for 42 min, "
                             f"device {world.device.did}")
    state = decode(world.c.node.store.get_state(f"sensors/x/{world.batch}"))
    assert state == {"n": 1, "first": bid, "ids": [bid], "open": [],
                     "last_end": [T0 + 57 * MIN, bid]}


def test_cold_excursion_and_a_second_one_are_two_breaches(world: World) -> None:
    r = world.ok(temps(T0, 1000, 1500, 1200, 1000, 1000, 1000, 1000, 1000, 5000,
                       *[12000] * 8, 5000, step=5 * MIN))
    assert len(r["breaches"]) == 2
    below, above = world.breaches()
    assert (below["worst"], below["ended"] - below["started"]) == (1000, 40 * MIN)
    assert "below 2.0 °C" in below["detail"]
    assert (above["worst"], above["ended"] - above["started"]) == (12000, 40 * MIN)


def test_humidity_batch_rule_overrides_product_rule(world: World) -> None:
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "batch", "target": world.batch, "hum": {"min": 300, "max": 700}})
    # 20 °C is outside the product's band but the batch's own rule only checks humidity.
    r = world.ok([{"t": T0, "temp": 20000, "hum": 500}, {"t": T0 + MIN, "hum": 925},
                  {"t": T0 + 2 * MIN, "hum": 600}])
    assert len(r["breaches"]) == 1
    [row] = world.breaches()
    assert (row["kind"], row["worst"], row["ended"] - row["started"]) == ("hum", 925, MIN)
    assert "humidity 92.5 %RH above 70.0 %RH for 1 min" in row["detail"]
    assert row["rule"] == f"r/b/{world.batch}"


def test_shock_over_threshold_is_a_breach_at_once(world: World) -> None:
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "batch", "target": world.batch, "shock": {"max": 3000}})
    r = world.ok([{"t": T0, "shock": 800}, {"t": T0 + 1000, "shock": 5200}])
    [bid] = r["breaches"]
    [row] = world.breaches()
    assert (row["id"], row["kind"], row["worst"], row["ended"]) == (bid, "shock", 5200, None)
    assert row["detail"].startswith("sensor breach: shock 5.2 g above 3.0 g, device")
    world.ok([{"t": T0 + 2000, "shock": 100}])
    assert world.breaches()[0]["ended"] == T0 + 2000


def test_geofence_circle_and_polygon(world: World) -> None:
    # A 5 km circle around Berlin's centre; the batch leaves it heading to Potsdam.
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "batch", "target": world.batch,
        "geofence": {"lat": 52_520_008, "lon": 13_404_954, "radius_m": 5_000}})
    r = world.ok([{"t": T0, "lat": 52_521_000, "lon": 13_410_000},
                  {"t": T0 + MIN, "lat": 52_390_000, "lon": 13_065_000}])
    assert len(r["breaches"]) == 1
    [row] = world.breaches()
    great_circle = haversine_m(GeoPoint("52.520008", "13.404954"), GeoPoint("52.39", "13.065"))
    assert row["kind"] == "geofence" and abs(row["worst"] - great_circle) < great_circle / 200
    assert "from the geofence centre (radius 5,000 m)" in row["detail"]
    polygon = [[52, 13], [53, 13], [53, 14]]
    b2 = world.new_batch("V2")
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "batch", "target": b2,
        "geofence": {"polygon": [[p[0] * 1_000_000, p[1] * 1_000_000] for p in polygon]}})
    dev = world.new_device(bind_to=b2)
    r = world.send([{"t": T0 + 2 * MIN, "lat": 52_900_000, "lon": 13_100_000},
                    {"t": T0 + 3 * MIN, "lat": 52_100_000, "lon": 13_900_000}], device=dev)
    assert r.ok and len(r.result["breaches"]) == 1
    assert "outside the geofence polygon" in world.breaches(b2)[0]["detail"]


# -- the engine alone ---------------------------------------------------------------------

def _cols(readings: list[dict[str, int]]) -> dict[str, object]:
    cols: dict[str, object] = prepare_record({"seq": 1, "readings": readings})["cols"]
    return cols


def test_engine_allowance_is_exclusive_and_zero_means_at_once() -> None:
    rule = prepare_rule({"scope": "product", "target": "4006381333931",
                         "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}})
    ex: dict[str, object] = {}
    # exactly 30 min out (out at 0, back at 30): allowed
    assert evaluate(rule, _cols(temps(0, 9000, 9000, 5000, step=15 * MIN)), ex) == []
    hits = evaluate(rule, _cols(temps(60 * MIN, 9000, 5000, step=30 * MIN + 1)), ex)
    assert [(h["kind"], h["ended"] - h["start"]) for h in hits] == [("temp", 30 * MIN + 1)]
    strict = prepare_rule({"scope": "product", "target": "4006381333931",
                           "hum": {"min": 100, "max": 200}})
    ex = {}
    [hit] = evaluate(strict, _cols([{"t": 5, "hum": 201}]), ex)
    assert hit["ended"] is None and hit["id"] == "" and ex["hum"][3] == "?"


def test_engine_keeps_an_open_excursion_between_batches() -> None:
    rule = prepare_rule({"scope": "product", "target": "4006381333931",
                         "temp": {"min": 2000, "max": 8000, "excursion_ms": 10 * MIN}})
    ex: dict[str, object] = {}
    assert evaluate(rule, _cols(temps(0, 9000, 9500, step=MIN)), ex) == []
    assert ex["temp"] == [0, 9500, MIN, ""]
    [hit] = evaluate(rule, _cols(temps(11 * MIN, 8500)), ex)
    assert (hit["start"], hit["worst"], hit["ended"]) == (0, 9500, None)


def test_integer_cosine_and_circle_distance_match_floating_point() -> None:
    for lat in (0, 45_000_000, -33_868_820, 52_520_008, 78_223_000, 90_000_000):
        assert abs(cos_e9(lat) - math.cos(math.radians(lat / 1e6)) * 1e9) < 2
    rule = prepare_rule({"scope": "batch", "target": "x",
                         "geofence": {"lat": 0, "lon": 179_990_000, "radius_m": 5_000}})
    ex: dict[str, object] = {}
    # across the antimeridian: 0.02 degrees of longitude at the equator is ~2.2 km
    assert evaluate(rule, _cols([{"t": 1, "lat": 0, "lon": -179_990_000}]), ex) == []


def test_geofence_shortcut_agrees_with_the_exact_distance() -> None:
    import random

    from supplyledger.contracts.builtin._sensors_rules import _fence_values

    rnd = random.Random(7)
    fence = {"circle": [48_000_000, 11_000_000, 20_000, cos_e9(48_000_000)]}
    for _ in range(300):
        n = rnd.randint(1, 5)
        lats = [48_000_000 + rnd.randint(-190_000, 190_000) for _ in range(n)]
        lons = [11_000_000 + rnd.randint(-280_000, 280_000) for _ in range(n)]
        _, vals, (_, r, _) = _fence_values(fence, [list(range(n)), lats, lons])
        exact = [math.dist((0, 0), ((la - 48_000_000) * 0.111195,
                                    (lo - 11_000_000) * 0.111195 * cos_e9(48_000_000) / 1e9))
                 for la, lo in zip(lats, lons, strict=True)]
        for v, d in zip(vals, exact, strict=True):
            assert (v <= r) == (d <= r + 1) or abs(d - r) < 2, (v, d)
