"""Cold-chain rules: their arguments, normal form, deterministic evaluation and wording.

A rule holds up to four checks. Temperature (milli-degC) and humidity (per-mille RH) are
bands with an allowed excursion time; shock (milli-g) is a ceiling; the geofence is a circle
(centre in micro-degrees, radius in metres) or a small polygon. All four become the same
thing for evaluation: a series of integer values per reading and a band ``[lo, hi, allow]``
(a circle's value is the distance from its centre, a polygon's is 0 inside and 1 outside),
so one loop evaluates every check.

An excursion starts at the first reading outside the band and ends at the first reading
back inside; its length is end - start, so the time until the device saw the goods back in
range counts against them (the conservative reading of a cold-chain allowance). It becomes
a breach once it lasts longer than ``allow`` ms, or at once when ``allow`` is 0. Excursions
carry across reading batches in the device's state ``[start, worst, seen, breach id]``.

Rules v5 refuse a band narrower than a logger can tell apart (:func:`check_band_widths`,
:data:`MIN_BAND`): 0.1 °C of temperature, 1 %RH of humidity.

Evaluation is integer arithmetic only: the geofence uses an equirectangular projection with
cos(latitude of the centre) computed once by an integer Taylor series (no libm, so every node
gets the same bits); its error is well under 1 % for fences up to a few hundred km. Polygons
are tested by ray casting on micro-degrees (small fences, not crossing the antimeridian).
"""

from __future__ import annotations

from math import isqrt
from typing import Any

from supplyledger.contracts.builtin._sensors_model import DAY_MS, HUM, LAT, LON, SHOCK, TEMP, milli
from supplyledger.contracts.schema import Enum, Int, List, Obj, Str
from supplyledger.errors import ValidationError
from supplyledger.gs1 import canonical_digital_link, validate_gtin

__all__ = ["MIN_BAND", "RULE_ARGS", "breach_reason", "check_band_widths", "cos_e9", "evaluate",
           "prepare_rule", "widened"]

_ALLOW = Int(optional=True, min=0, max=7 * DAY_MS, doc="allowed excursion, ms (default 0)")
_POINT = List(item=Int(min=-LON, max=LON), min_items=2, max_items=2, doc="[lat, lon] µdeg")
RULE_ARGS = {
    "scope": Enum(values=("product", "batch"), doc="a product type (GTIN) or one batch"),
    "target": Str(max_len=300, doc="GTIN for a product rule, batch id for a batch rule"),
    "temp": Obj(optional=True, doc="temperature band, milli-degC", fields={
        "min": Int(min=-TEMP, max=TEMP), "max": Int(min=-TEMP, max=TEMP),
        "excursion_ms": _ALLOW}),
    "hum": Obj(optional=True, doc="relative humidity band, per-mille", fields={
        "min": Int(min=0, max=HUM), "max": Int(min=0, max=HUM), "excursion_ms": _ALLOW}),
    "shock": Obj(optional=True, doc="shock threshold", fields={
        "max": Int(min=1, max=SHOCK, doc="milli-g")}),
    "geofence": Obj(optional=True, doc="a circle (lat, lon, radius_m) or a polygon", fields={
        "lat": Int(optional=True, min=-LAT, max=LAT), "lon": Int(optional=True, min=-LON,
                                                                 max=LON),
        "radius_m": Int(optional=True, min=1, max=20_000_000),
        "polygon": List(optional=True, item=_POINT, min_items=3, max_items=32)}),
}
# Rules v5: the narrowest band, in the contract's units. A band is worth setting only if a
# logger can tell its edges apart: cold-chain loggers report temperature in steps of 0.1 °C
# (100 m°C; the milli-°C unit is finer than any of them) and humidity in whole %RH (their
# sensors are accurate to a few %RH; 10 per-mille). Narrower, every reading rounding
# across an edge is an excursion: the band would judge the sensor's noise, not the goods.
# Shock is a ceiling and the geofence a distance, not bands: their schema bounds suffice.
MIN_BAND = {"temp": 100, "hum": 10}
_PI_E18 = 3_141_592_653_589_793_238
_E18 = 10**18
_UM_PER_UDEG = 111_195  # micrometres per micro-degree of a great circle (R = 6,371,009 m)


def cos_e9(lat_e6: int) -> int:
    """cos(latitude) x 10^9 by an integer Taylor series (|lat| <= 90 degrees)."""
    x = lat_e6 * _PI_E18 // 180_000_000
    term, total = _E18, _E18
    for k in range(1, 16):
        term = -term * x * x // _E18 // _E18 // ((2 * k - 1) * (2 * k))
        total += term
    return max(0, total // 10**9)


def _band(a: dict[str, Any], name: str) -> list[int]:
    if a["min"] >= a["max"]:
        raise ValidationError(f"{name}.min must be below {name}.max", arg=name)
    return [a["min"], a["max"], a.get("excursion_ms", 0)]


def _fence(g: dict[str, Any]) -> dict[str, Any]:
    if "polygon" in g:
        if set(g) != {"polygon"}:
            raise ValidationError("a geofence is a polygon or a circle, not both",
                                  arg="geofence")
        for p in g["polygon"]:
            if not -LAT <= p[0] <= LAT:
                raise ValidationError("polygon latitudes must be within +-90 degrees",
                                      arg="geofence")
        return {"polygon": g["polygon"]}
    if set(g) != {"lat", "lon", "radius_m"}:
        raise ValidationError("a circular geofence needs lat, lon and radius_m",
                              arg="geofence")
    return {"circle": [g["lat"], g["lon"], g["radius_m"], cos_e9(g["lat"])]}


def prepare_rule(args: dict[str, Any]) -> dict[str, Any]:
    """Normal form of a rule: the target's one spelling and a band per check."""
    if args["scope"] == "product":
        target = validate_gtin(args["target"])
    else:
        target = canonical_digital_link(args["target"]) or args["target"]
    rule: dict[str, Any] = {"scope": args["scope"], "target": target}
    if "temp" in args:
        rule["temp"] = _band(args["temp"], "temp")
    if "hum" in args:
        rule["hum"] = _band(args["hum"], "hum")
    if "shock" in args:
        rule["shock"] = [0, args["shock"]["max"], 0]
    if "geofence" in args:
        rule["geofence"] = _fence(args["geofence"])
    if len(rule) == 2:
        raise ValidationError("a rule needs at least one of temp, hum, shock, geofence",
                              arg="scope")
    return rule


def check_band_widths(rule: dict[str, Any]) -> None:
    """Rules v5: refuse a band of ``rule`` (normal form) narrower than :data:`MIN_BAND`,
    naming the band, its width and the minimum (``validation_error``, arg the check)."""
    for kind, least in MIN_BAND.items():
        if kind not in rule:
            continue
        lo, hi, _ = rule[kind]
        if hi - lo < least:
            name, unit = _NAMES[kind]
            scale = 100 if kind == "hum" else 1  # per-mille -> percent, as milli-units
            raise ValidationError(
                f"the {name} band {milli(lo * scale)} to {milli(hi * scale)} {unit} is "
                f"{milli((hi - lo) * scale)} {unit} wide: a band must be at least "
                f"{milli(least * scale)} {unit} wide ({kind}.max - {kind}.min >= {least}), "
                "as loggers measure no finer", arg=kind, width=hi - lo, minimum=least)


def widened(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """The first check (``temp``, ``hum``, ``shock``, ``geofence``) that rule ``new`` drops or
    widens against rule ``old``, or None when ``new`` is at least as strict: every band
    within the old one with no longer allowance, the geofence the same or a circle with the
    same centre and no larger radius (other fences are not compared: any change widens).
    Checks ``new`` adds only make it stricter; no rule at all is the widest."""
    for kind in ("temp", "hum", "shock"):
        if kind in (old or {}):
            lo, hi, allow = old[kind]  # type: ignore[index]
            band = new.get(kind)
            if band is None or band[0] < lo or band[1] > hi or band[2] > allow:
                return kind
    fence = (old or {}).get("geofence")
    if fence is not None:
        now = new.get("geofence")
        if now != fence and not ("circle" in fence and now is not None and "circle" in now
                                 and now["circle"][:2] == fence["circle"][:2]
                                 and now["circle"][2] <= fence["circle"][2]):
            return "geofence"
    return None


def _fence_values(fence: dict[str, Any], pos: list[list[int]]) -> tuple[list[int], list[int],
                                                                         list[int]]:
    """(times, values, band) of a geofence: metres from a circle's centre, or 0 inside and
    1 outside a polygon."""
    ts, lats, lons = pos
    if "circle" in fence:
        lat0, lon0, r, cos = fence["circle"]
        # Every fix inside the square inscribed in the circle (no antimeridian near) is
        # inside: the usual case, decided by four comparisons instead of a root per fix.
        half = r * 707_106 // _UM_PER_UDEG  # r / sqrt(2) in micro-degrees of latitude
        half_lon = half * 10**9 // cos if cos else LON
        if (lat0 - half <= min(lats) and max(lats) <= lat0 + half
                and -LON < lon0 - half_lon <= min(lons) and max(lons) <= lon0 + half_lon < LON):
            return ts, [0] * len(ts), [0, r, 0]
        vals = []
        for lat, lon in zip(lats, lons, strict=True):
            dlon = (lon - lon0 + 180_000_000) % 360_000_000 - 180_000_000
            dy = (lat - lat0) * _UM_PER_UDEG
            dx = dlon * _UM_PER_UDEG * cos // 10**9
            vals.append(isqrt(dx * dx + dy * dy) // 1_000_000)
        return ts, vals, [0, r, 0]
    poly = fence["polygon"]
    edges = list(zip(poly, poly[1:] + poly[:1], strict=True))
    vals = []
    for y, x in zip(lats, lons, strict=True):
        inside = False
        for (y1, x1), (y2, x2) in edges:
            if (y1 > y) != (y2 > y):
                den = y2 - y1
                lhs, rhs = (x - x1) * den, (y - y1) * (x2 - x1)
                if (lhs < rhs) if den > 0 else (lhs > rhs):
                    inside = not inside
        vals.append(0 if inside else 1)
    return ts, vals, [0, 0, 0]


def _dev(v: int, lo: int, hi: int) -> int:
    return v - hi if v > hi else lo - v


def _scan(kind: str, band: list[int], ts: list[int], vs: list[int], ex: dict[str, Any],
          hits: list[dict[str, Any]]) -> None:
    lo, hi, allow = band
    st = ex.get(kind)
    if st is None and lo <= min(vs) and max(vs) <= hi:
        return  # the usual case, at C speed: nothing open, nothing out of range
    before = None if st is None else tuple(st)
    for t, v in zip(ts, vs, strict=True):
        if lo <= v <= hi:
            if st is not None:
                if st[3] or t - st[0] > allow:
                    hits.append({"kind": kind, "id": st[3] if st[3] != "?" else "",
                                 "start": st[0], "worst": st[1], "seen": st[2], "ended": t,
                                 "band": band})
                st = before = None
            continue
        if st is None:
            st = [t, v, t, ""]
        else:
            st[2] = t
            if _dev(v, lo, hi) > _dev(st[1], lo, hi):
                st[1] = v
        if not st[3] and (allow == 0 or t - st[0] > allow):
            st[3] = "?"  # a new breach; the contract names it
    if st is None:
        ex.pop(kind, None)
        return
    ex[kind] = st
    if st[3] and tuple(st) != before:
        hits.append({"kind": kind, "id": st[3] if st[3] != "?" else "", "start": st[0],
                     "worst": st[1], "seen": st[2], "ended": None, "band": band})


def evaluate(rule: dict[str, Any], cols: dict[str, Any], ex: dict[str, Any]) -> list[
        dict[str, Any]]:
    """Evaluate one rule over a batch's columns, updating the excursion state ``ex`` in
    place. Returns the breaches that opened, changed or ended, each as ``{kind, id ("" for a
    new one), start, worst, seen, ended (None while it lasts), band}``."""
    hits: list[dict[str, Any]] = []
    for kind in ("temp", "hum", "shock"):
        band, data = rule.get(kind), cols.get(kind)
        if band is not None and data is not None:
            _scan(kind, band, data[0], data[1], ex, hits)
    fence, pos = rule.get("geofence"), cols.get("pos")
    if fence is not None and pos is not None:
        ts, vals, band = _fence_values(fence, pos)
        _scan("geofence", band, ts, vals, ex, hits)
    return hits


def _minutes(ms: int) -> str:
    return f"{ms // 60_000} min" if ms >= 60_000 else f"{ms // 1000} s"


_NAMES = {"temp": ("temperature", "°C"), "hum": ("humidity", "%RH"), "shock": ("shock", "g")}


def breach_reason(b: dict[str, Any]) -> str:
    """One line for people: "sensor breach: temperature 9.4 °C above 8.0 °C for 42 min,
    device did:sl:…" (humidity is kept in per-mille, shown as percent)."""
    kind, worst, (lo, hi, _) = b["kind"], b["worst"], b["band"]
    end = b["ended"] if b["ended"] is not None else b["seen"]
    span = f"for {_minutes(end - b['start'])}" + ("" if b["ended"] is not None
                                                   else " (ongoing)")
    if kind == "geofence":
        what = (f"position {worst:,} m from the geofence centre (radius {hi:,} m)"
                if b.get("fence") == "circle" else "position outside the geofence polygon")
    else:
        name, unit = _NAMES[kind]
        scale = 100 if kind == "hum" else 1  # per-mille -> percent, as milli-units
        side, limit = ("above", hi) if worst > hi else ("below", lo)
        what = (f"{name} {milli(worst * scale)} {unit} {side} {milli(limit * scale)} {unit}"
                if kind != "shock" else f"shock {milli(worst)} g above {milli(hi)} g")
    if kind == "shock":
        span = ""
    return f"sensor breach: {what}{' ' + span if span else ''}, device {b['device']}"
