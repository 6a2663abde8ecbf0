"""The dispatch request: what a platform tells ``supplyledger dispatch plan`` off-ledger.

Delivery addresses are private, so the platform supplies the drop points here and only
order ids, routes and distances go on the ledger. The request is a JSON object::

    {
      "plan": "P-0105",                      optional; default "plan-<start, UTC minute>"
      "platform": "<participant id>",        whose open orders are dispatched
      "start": "2026-01-05T06:00:00Z",       optional; default warehouse.open
      "speed_kmh": 40,                       optional, 1-1200; default 60 (road nominal)
      "warehouse": {"node": "<GLN or id>", "lat": 52.52, "lon": 13.405,
                    "open": "...", "close": "...",
                    "outbound_capacity": 5000,     what handling can release in this plan
                    "storage_capacity": 8000},     optional; staging area, same units
      "fleet": [{"vehicle": "V1", "transporter": "<participant id>",
                 "capacity": 1200, "vehicle_class": "van_diesel_avg",
                 "mode": "road", "available": ["...", "..."], "features": ["chilled"]}],
      "orders": {"O-1": {"lat": 52.50, "lon": 13.30, "quantity": 120, "mass_kg": 120,
                         "service_min": 5, "requires": ["chilled"],
                         "window": ["...", "..."], "batch": "<lot>", "public": false}}
    }

Times are ms since the epoch or ISO-8601 strings with a zone, from 1970 to the year 9999;
coordinates decimal degrees (numbers or strings, kept to micro-degrees); ``quantity`` and
``capacity`` share one unit of the platform's choice (default for ``mass_kg``, which must be
whole kg, at most a shipment's cargo (``MAX_MASS_KG`` of the shipments contract), and drives
the emission allocation). An order's ``window`` defaults to the order's delivery window on the
ledger and can only narrow it; ``available`` defaults to the warehouse hours; ``public:
true`` lets the drop point's coordinates go on the ledger (a business site, not a home).
Storage capacity bounds what can be staged for the plan, so the plan releases at most
min(outbound, storage).

Read strictly, since a misread request routes the wrong goods: the file is UTF-8 JSON
without NaN or Infinity and without a key given twice (an order listed twice would
otherwise silently keep the last); ``features`` and ``requires`` are lists of names,
``public`` a JSON boolean (the string "false" is refused, not taken as true), ``batch`` a
string, and a key not named above (a misspelt ``require`` or ``available_from``) is
refused rather than dropped. ``dispatch plan`` needs ``platform``; a request read only to
draw a recorded plan may leave it out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from supplyledger.contracts.builtin._shipments_new import MAX_MASS_KG
from supplyledger.errors import ValidationError
from supplyledger.ledger.encoding import strict_loads
from supplyledger.logistics.eta import project_km

__all__ = ["MAX_TIME_MS", "DispatchRequest", "DropPoint", "FleetVehicle", "LedgerOrder", "Site",
           "drop_km", "load_request", "parse_request", "parse_time", "read_json"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")
# The latest time a request may name: the end of year 9999, what ISO 8601 can write. Later
# ones are a slip of units (microseconds for ms); near 2**53 the route's times could not
# even be put on the ledger. (The ledger then takes departures at most a year ahead.)
MAX_TIME_MS = 253_402_300_799_999


@dataclass(frozen=True)
class LedgerOrder:
    """An open order as the ledger's ``orders`` projection shows it."""

    id: str
    earliest: int
    latest: int
    batch: str | None


@dataclass(frozen=True)
class Site:
    node: str
    lat_e6: int
    lon_e6: int
    open_ms: int
    close_ms: int
    outbound_capacity: float


@dataclass(frozen=True)
class FleetVehicle:
    vehicle: str
    transporter: str
    capacity: float
    vehicle_class: str
    mode: str
    available: tuple[int, int]
    features: frozenset[str]


@dataclass(frozen=True)
class DropPoint:
    order: str
    lat_e6: int
    lon_e6: int
    quantity: float
    mass_kg: int
    service_min: float
    requires: frozenset[str]
    window: tuple[int, int] | None
    batch: str | None
    public: bool


@dataclass(frozen=True)
class DispatchRequest:
    plan: str
    platform: str
    start_ms: int
    speed_kmh: float
    warehouse: Site
    fleet: tuple[FleetVehicle, ...]
    drops: dict[str, DropPoint]


def parse_time(value: Any, what: str) -> int:
    """ms epoch from an int or an ISO-8601 string with a zone (0 to :data:`MAX_TIME_MS`)."""
    if type(value) is int:
        ms = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{what}: {value!r} is not an ISO-8601 time") from None
        if dt.tzinfo is None:
            raise ValidationError(f"{what}: {value!r} needs a time zone (e.g. Z)")
        ms = int(dt.timestamp() * 1000)
    else:
        raise ValidationError(f"{what} must be ms since the epoch or an ISO-8601 string")
    if ms > MAX_TIME_MS:
        raise ValidationError(f"{what}: {value!r} is after 9999-12-31T23:59:59.999Z (ms since "
                              "the epoch are wanted)", arg=what, latest=MAX_TIME_MS)
    if ms < 0:  # the ledger's times are ms since the epoch, and so are a route's
        raise ValidationError(f"{what}: {value!r} is before 1970-01-01T00:00:00Z", arg=what)
    return ms


def _micro(value: Any, what: str, bound: int) -> int:
    if value is None:
        axis = "latitude" if what.endswith("lat") else "longitude"
        raise ValidationError(f"{what} is missing: give the point's {axis} in decimal "
                              "degrees", arg=what)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{what} must be a number of degrees")
    try:
        degrees = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{what}: {value!r} is not a number") from None
    if not (degrees.is_finite() and -180 <= degrees <= 180):  # abs() would round: overflow
        raise ValidationError(f"{what} out of range: {value}")
    micro = int((degrees * 1_000_000).to_integral_value())
    if not -bound <= micro <= bound:
        raise ValidationError(f"{what} out of range: {value}")
    return micro


def _num(obj: dict[str, Any], key: str, what: str, default: Any = None, *,
         positive: bool = False) -> float:
    v = obj.get(key, default)
    number = (float(v) if not isinstance(v, bool) and isinstance(v, int | float)
              and abs(v) < 1e300 else math.nan)  # a 400-digit int would overflow float()
    if not (math.isfinite(number) and number >= 0) or (positive and number == 0):
        raise ValidationError(f"{what}.{key} must be a {'positive' if positive else 'non-negative'}"
                              " number below 1e300", arg=f"{what}.{key}")
    return number


def _names(value: Any, what: str) -> frozenset[str]:
    """Feature names; a bare string would otherwise become a set of its letters."""
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise ValidationError(f"{what} must be a list of names, e.g. [\"chilled\"]", arg=what)
    return frozenset(value)


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be true or false", arg=what)
    return value


def _window(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValidationError(f"{what} must be [from, to]")
    a, b = parse_time(value[0], what), parse_time(value[1], what)
    if a > b:
        raise ValidationError(f"{what} ends before it starts")
    return a, b


def _ident(value: Any, what: str, max_len: int = 40) -> str:
    """Plan and vehicle ids make the transport order number ``<plan>/<vehicle>`` (64 max)."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or len(value) > max_len:
        raise ValidationError(f"{what} must match {_ID.pattern} (at most {max_len} chars)")
    return value


def _obj(value: Any, what: str, known: frozenset[str] | None = None) -> dict[str, Any]:
    """An object of the request; given ``known``, one holding no other keys: a misspelt
    key (``require``, ``available_from``) would otherwise be dropped without a word and
    route the goods as if it were not there (a chilled order on any van)."""
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be an object")
    unknown = sorted(set(value) - known) if known is not None else []
    if unknown:
        raise ValidationError(f"{what}: unknown field {unknown[0]!r} (known: "
                              f"{', '.join(sorted(known or ()))})",
                              arg=f"{what}.{unknown[0]}")
    return value


_REQUEST = frozenset({"plan", "platform", "start", "speed_kmh", "warehouse", "fleet", "orders"})
_WAREHOUSE = frozenset({"node", "lat", "lon", "open", "close", "outbound_capacity",
                        "storage_capacity"})
_VEHICLE = frozenset({"vehicle", "transporter", "capacity", "vehicle_class", "mode",
                      "available", "features"})
_DROP = frozenset({"lat", "lon", "quantity", "mass_kg", "service_min", "requires", "window",
                   "batch", "public"})


def parse_request(doc: Any) -> DispatchRequest:
    req = _obj(doc, "the request", _REQUEST)
    platform = req.get("platform", "")
    if not isinstance(platform, str):
        raise ValidationError("request.platform must be the platform's participant id",
                              arg="platform")
    wh = _obj(req.get("warehouse"), "warehouse", _WAREHOUSE)
    open_ms = parse_time(wh.get("open"), "warehouse.open")
    close_ms = parse_time(wh.get("close"), "warehouse.close")
    if open_ms > close_ms:
        raise ValidationError("warehouse closes before it opens")
    outbound = _num(wh, "outbound_capacity", "warehouse")
    if "storage_capacity" in wh:
        outbound = min(outbound, _num(wh, "storage_capacity", "warehouse"))
    site = Site(str(wh.get("node", "")) or "warehouse", _micro(wh.get("lat"), "warehouse.lat",
                90_000_000), _micro(wh.get("lon"), "warehouse.lon", 180_000_000),
                open_ms, close_ms, outbound)
    start = parse_time(req["start"], "start") if "start" in req else open_ms
    fleet = []
    for i, v in enumerate(req.get("fleet") or []):
        v = _obj(v, f"fleet[{i}]", _VEHICLE)
        fleet.append(FleetVehicle(
            _ident(v.get("vehicle"), f"fleet[{i}].vehicle", 23),
            str(v.get("transporter", "")), _num(v, "capacity", f"fleet[{i}]"),
            str(v.get("vehicle_class", "")), str(v.get("mode", "road")),
            _window(v["available"], f"fleet[{i}].available") if "available" in v
            else (open_ms, close_ms), _names(v.get("features", []), f"fleet[{i}].features")))
    if len({v.vehicle for v in fleet}) != len(fleet):
        raise ValidationError("vehicle ids must be unique")
    drops = {}
    for oid, d in _obj(req.get("orders", {}), "orders").items():
        d = _obj(d, f"orders.{oid}", _DROP)
        batch = d.get("batch")
        if batch is not None and not isinstance(batch, str):
            raise ValidationError(f"orders.{oid}.batch must be the batch's id or lot (a string)",
                                  arg=f"orders.{oid}.batch")
        qty = _num(d, "quantity", f"orders.{oid}", d.get("mass_kg"))
        mass = d.get("mass_kg", qty)
        if isinstance(mass, float) and mass.is_integer():
            mass = int(mass)
        if type(mass) is not int or not 1 <= mass <= MAX_MASS_KG:
            raise ValidationError(f"orders.{oid}.mass_kg must be a whole number of kg from 1 "
                                  f"to {MAX_MASS_KG} (the most a shipment carries)",
                                  arg=f"orders.{oid}.mass_kg", most=MAX_MASS_KG)
        drops[oid] = DropPoint(
            oid, _micro(d.get("lat"), f"orders.{oid}.lat", 90_000_000),
            _micro(d.get("lon"), f"orders.{oid}.lon", 180_000_000), qty, mass,
            _num(d, "service_min", f"orders.{oid}", 0),
            _names(d.get("requires", []), f"orders.{oid}.requires"),
            _window(d["window"], f"orders.{oid}.window") if "window" in d else None,
            batch, _flag(d.get("public", False), f"orders.{oid}.public"))
    plan = req.get("plan") or "plan-" + datetime.fromtimestamp(start / 1000, UTC).strftime(
        "%Y%m%d-%H%M")
    speed = _num(req, "speed_kmh", "request", 60, positive=True)
    if not 1 <= speed <= 1200:  # the ledger's bounds for a leg's speed
        raise ValidationError(f"request.speed_kmh must lie in 1..1200, got {speed:g}")
    return DispatchRequest(_ident(plan, "plan"), platform, start, speed, site, tuple(fleet),
                           drops)


def read_json(data: bytes, what: str) -> Any:
    """A request file's JSON (UTF-8; no NaN or Infinity, no key twice in an object)."""
    try:
        return strict_loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ValidationError(f"{what} is not JSON: {exc}", arg="request") from None


def load_request(path: Path) -> DispatchRequest:
    return parse_request(read_json(Path(path).read_bytes(), str(path)))


def drop_km(lat_e6: int, lon_e6: int, lat0_e6: int, lon0_e6: int) -> tuple[float, float]:
    """A drop point on the plane tangent at the warehouse (``eta.project_km``), reached the
    short way round: across the antimeridian, 179.9 E is 0.2 degrees from 179.9 W, not 359.8."""
    east = (lon_e6 - lon0_e6 + 180_000_000) % 360_000_000 - 180_000_000
    return project_km(lat_e6, lon0_e6 + east, lat0_e6, lon0_e6)
