"""The sensors contract's keys, units, argument schemas and stateless preparation.

Units are integers in fixed scales, as every contract's are (no floats reach the ledger):
positions in micro-degrees, temperature in milli-degrees Celsius, relative humidity in
per-mille, shock in milli-g, times in ms since the epoch, distances in metres.

``prepare_record`` runs in the verifier processes, before ordering. It refuses what can be
refused without state (times not strictly increasing, a latitude without a longitude, a
reading that measures nothing; the argument schema already refused out-of-range values) and
turns the readings into a compact columnar form: per measure the times and values of the
readings that carry it, plus the batch summary (count, first/last time, min/max per
measure, last position). The contract body then loops over plain integer lists, which is
what keeps the per-reading cost of ingest small.

State layout (namespace ``sensors``)::

    d/{device}        device: registration, binding, last seq and time, open excursions
    r/p/{gtin14}      product rule          r/b/{batch}   batch rule (overrides the product's)
    b/{breach id}     breach record         x/{batch}     breaches that mark a batch
    w/{batch}         rules v4: the excursion open on a batch, whichever logger saw it
                      (only while one is open; see ``_sensors_allowance``)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supplyledger.contracts.schema import Int, List, Obj
from supplyledger.errors import ValidationError

__all__ = [
    "DAY_MS",
    "HUM",
    "KINDS",
    "LAT",
    "LON",
    "MAX_READINGS",
    "READING",
    "READINGS",
    "SHOCK",
    "TEMP",
    "allowance_key",
    "batch_rule_key",
    "breach_key",
    "breaches_key",
    "device_key",
    "milli",
    "prepare_record",
    "product_rule_key",
]

MAX_READINGS = 1000
LAT, LON = 90_000_000, 180_000_000
TEMP = 100_000  # +-100 degC in milli-degrees: beyond that a cold-chain probe is broken
HUM = 1000  # per-mille relative humidity
SHOCK = 1_000_000  # 1000 g in milli-g: far beyond any transport shock a logger reports
DAY_MS = 86_400_000
MEASURES = ("temp", "hum", "shock")
# Rule kinds, in the order rules are evaluated and breaches reported.
KINDS = ("temp", "hum", "shock", "geofence")

READING = Obj(doc="one reading: t and at least one measure", fields={
    "t": Int(min=0, max=(1 << 53) - 1, doc="time, ms since the epoch"),
    "lat": Int(optional=True, min=-LAT, max=LAT, doc="latitude, micro-degrees"),
    "lon": Int(optional=True, min=-LON, max=LON, doc="longitude, micro-degrees"),
    "temp": Int(optional=True, min=-TEMP, max=TEMP, doc="temperature, milli-degrees C"),
    "hum": Int(optional=True, min=0, max=HUM, doc="relative humidity, per-mille"),
    "shock": Int(optional=True, min=0, max=SHOCK, doc="peak acceleration, milli-g"),
})
_BOUNDS = {name: (spec.min, spec.max) for name, spec in (READING.fields or {}).items()
           if isinstance(spec, Int)}


@dataclass(frozen=True)
class _Readings(List):
    """The readings list: checked in one tight pass (the per-reading cost of ingest), and
    only when that finds a problem by the generic schema walk, for its exact message."""

    def check(self, name: str, v: Any) -> Any:
        bounds = _BOUNDS
        if type(v) is list and self.min_items <= len(v) <= self.max_items:
            for r in v:
                if type(r) is not dict or "t" not in r:
                    break
                for key, x in r.items():
                    b = bounds.get(key)
                    if b is None or type(x) is not int or not b[0] <= x <= b[1]:
                        break
                else:
                    continue
                break
            else:
                return v
        return super().check(name, v)


READINGS = _Readings(item=READING, min_items=1, max_items=MAX_READINGS,
                     doc=f"at most {MAX_READINGS}, times strictly increasing: t ms epoch, "
                     "lat/lon micro-degrees, temp milli-degC, hum per-mille RH, shock milli-g")


def device_key(did: str) -> str:
    return f"d/{did}"


def product_rule_key(gtin14: str) -> str:
    return f"r/p/{gtin14}"


def batch_rule_key(batch: str) -> str:
    return f"r/b/{batch}"


def allowance_key(batch: str) -> str:
    """Rules v4: the excursion open on ``batch`` (see ``_sensors_allowance``)."""
    return f"w/{batch}"


def breach_key(breach_id: str) -> str:
    return f"b/{breach_id}"


def breaches_key(batch: str) -> str:
    """The list of breaches that mark ``batch`` (what trace and orders read)."""
    return f"x/{batch}"


def milli(v: int) -> str:
    """A milli-unit integer as decimal text with at least one decimal: 9400 -> "9.4"."""
    sign = "-" if v < 0 else ""
    whole, frac = divmod(abs(v), 1000)
    digits = f"{frac:03d}".rstrip("0") or "0"
    return f"{sign}{whole}.{digits}"


def prepare_record(args: dict[str, Any]) -> dict[str, Any]:
    """Stateless checks and the compact columnar form of a reading batch (see module doc).
    Column by column with comprehensions: this runs for every reading ingested."""
    readings: list[dict[str, Any]] = args["readings"]
    ts = [r["t"] for r in readings]
    for i in range(1, len(ts)):
        if ts[i] <= ts[i - 1]:
            raise ValidationError(f"readings[{i}].t is {ts[i]}, not after the previous "
                                  f"reading's {ts[i - 1]}: times must strictly increase",
                                  arg="readings")
    for i, r in enumerate(readings):
        if len(r) == 1:
            raise ValidationError(f"readings[{i}] measures nothing: give a position, temp, "
                                  "hum or shock", arg="readings")
        if ("lat" in r) != ("lon" in r):
            raise ValidationError(f"readings[{i}] has a latitude or a longitude alone: a "
                                  "position needs both", arg="readings")
    cols: dict[str, list[list[int]]] = {}
    summary: dict[str, Any] = {"n": len(ts), "first": ts[0], "last": ts[-1]}
    for m in MEASURES:
        have = [r for r in readings if m in r]
        vals = [r[m] for r in have]
        if vals:
            cols[m] = [[r["t"] for r in have], vals]
        summary[m] = [min(vals), max(vals)] if vals else None
    have = [r for r in readings if "lat" in r]
    if have:
        cols["pos"] = [[r["t"] for r in have], [r["lat"] for r in have],
                       [r["lon"] for r in have]]
    summary["pos"] = [have[-1]["t"], have[-1]["lat"], have[-1]["lon"]] if have else None
    return {"seq": args["seq"], "summary": summary, "cols": cols}
