"""The dispatch page's form as a dispatch request: what ``supplyledger dispatch plan`` reads
from its JSON file (``logistics.dispatch_request``), built from the fields a platform fills
in, or taken from an uploaded request file.

Pure but for the viewer's time zone (``zones``, kept per request): the page passes the
submitted values and a batch resolver, and gets the request *document*;
:func:`~supplyledger.logistics.dispatch_request.parse_request` (the CLI's own parser) then
checks it, so the form and the file are held to the same rules. Drop points are customers'
addresses: they go into the request only, never into the page's links.

Field names: ``wh_*`` the warehouse, ``v<i>_*`` one vehicle row (a row without a vehicle id
is left out), ``pick`` the open orders chosen, ``<field>.<order id>`` an order's drop
point. Times are the viewer's local time ("2026-11-24 06:00", read in their zone as every
time on the pages is), ISO 8601 with a zone, or ms since the epoch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from supplyledger.api.web import zones
from supplyledger.api.web.forms import batch_id
from supplyledger.errors import Forbidden, ValidationError
from supplyledger.logistics.dispatch_request import parse_time, read_json

__all__ = ["MAX_TIME_LIMIT_S", "ORDER_FIELDS", "VEHICLE_ROWS", "own_request", "read_upload",
           "request_from_form", "request_from_upload", "time_limit"]

GetList = Callable[[str], list[str]]
Resolve = Callable[[str], list[str]]
VEHICLE_ROWS = 3
ORDER_FIELDS = ("lat", "lon", "qty", "mass", "service", "requires", "batch")
MAX_TIME_LIMIT_S = 10.0  # the page waits for the solver: a bounded search
_LOCAL = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _time(text: str, what: str) -> int:
    """ms epoch from "YYYY-MM-DD HH:MM" (in the viewer's zone, as every time on the pages),
    ISO 8601 with a zone, or the integer itself."""
    t = text.strip()
    if re.fullmatch(r"-?[0-9]+", t):
        return int(t)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", t):
        ms = zones.read(t, _LOCAL)
        # (not a date, "2026-13-01 06:00": the ISO parser's refusal says why)
        return parse_time(t.replace(" ", "T") + "Z" if ms is None else ms, what)
    return parse_time(t, what)


def _number(text: str, what: str, *, whole: bool = False) -> int | float:
    try:
        v = float(text.strip())
    except ValueError:
        raise ValidationError(f"{what} must be a number, got {text!r}") from None
    if v != v or v in (float("inf"), float("-inf")) or v < 0:
        raise ValidationError(f"{what} must be a number of at least 0, got {text!r}")
    if whole and not v.is_integer():
        raise ValidationError(f"{what} must be a whole number, got {text!r}")
    return int(v) if v.is_integer() else v


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text.strip()) if w]


def time_limit(text: str) -> float:
    """The search time asked for, in seconds: at most 10 (the page waits for it)."""
    t = float(_number(text or "2", "search time"))
    if not 0.1 <= t <= MAX_TIME_LIMIT_S:
        raise ValidationError(f"search time must lie in 0.1..{MAX_TIME_LIMIT_S:g} s, got {t:g}",
                              arg="time_limit")
    return t


def _warehouse(get: Callable[[str], str]) -> dict[str, Any]:
    for name, what in (("wh_lat", "latitude"), ("wh_lon", "longitude"),
                       ("wh_open", "opening time"), ("wh_close", "closing time"),
                       ("wh_capacity", "outbound capacity")):
        if not get(name):
            raise ValidationError(f"warehouse: give its {what}", arg=name)
    return {"node": get("wh_node") or "warehouse", "lat": get("wh_lat"), "lon": get("wh_lon"),
            "open": _time(get("wh_open"), "warehouse opens"),
            "close": _time(get("wh_close"), "warehouse closes"),
            "outbound_capacity": _number(get("wh_capacity"), "warehouse outbound capacity")}


def _fleet(get: Callable[[str], str]) -> list[dict[str, Any]]:
    fleet = []
    for i in range(VEHICLE_ROWS):
        vid = get(f"v{i}_id")
        if not vid:
            continue
        if not get(f"v{i}_transporter"):
            raise ValidationError(f"vehicle {vid}: choose its transporter",
                                  arg=f"v{i}_transporter")
        if not get(f"v{i}_capacity"):
            raise ValidationError(f"vehicle {vid}: give its capacity", arg=f"v{i}_capacity")
        mode, _, vclass = (get(f"v{i}_class") or "road/van_diesel_avg").partition("/")
        fleet.append({"vehicle": vid, "transporter": get(f"v{i}_transporter"),
                      "capacity": _number(get(f"v{i}_capacity"), f"vehicle {vid} capacity"),
                      "mode": mode, "vehicle_class": vclass,
                      "features": _words(get(f"v{i}_features"))})
    if not fleet:
        raise ValidationError("give at least one vehicle (its id, transporter and capacity)",
                              arg="v0_id")
    return fleet


def _drop(get: Callable[[str], str], oid: str, resolve: Resolve) -> dict[str, Any]:
    def f(name: str) -> str:
        return get(f"{name}.{oid}")

    if not f("lat") or not f("lon"):
        raise ValidationError(f"order {oid}: give its drop point's latitude and longitude",
                              arg=f"lat.{oid}")
    if not f("qty") and not f("mass"):
        raise ValidationError(f"order {oid}: give its quantity", arg=f"qty.{oid}")
    d: dict[str, Any] = {"lat": f("lat"), "lon": f("lon")}
    if f("qty"):
        d["quantity"] = _number(f("qty"), f"order {oid} quantity")
    if f("mass"):
        d["mass_kg"] = _number(f("mass"), f"order {oid} mass (kg)", whole=True)
    if f("service"):
        d["service_min"] = _number(f("service"), f"order {oid} service time (min)")
    if f("requires"):
        d["requires"] = _words(f("requires"))
    if f("batch"):  # a lot number as printed on the bag, or the batch's id
        d["batch"] = batch_id(f("batch"), resolve, f"batch.{oid}")
    return d


def request_from_form(getlist: GetList, platform: str, open_ids: Sequence[str],
                      resolve: Resolve) -> dict[str, Any]:
    """The request document for the orders picked among ``open_ids`` (the platform's open
    orders when the page was drawn; the planner checks them against the ledger again)."""

    def get(name: str) -> str:
        values = getlist(name)
        return values[0].strip() if values and isinstance(values[0], str) else ""

    picked = [o for o in getlist("pick") if isinstance(o, str)]
    unknown = sorted(set(picked) - set(open_ids))
    if unknown:
        raise ValidationError(f"not open orders of yours: {', '.join(unknown)}", arg="pick")
    if not picked:
        raise ValidationError("pick at least one open order to dispatch", arg="pick")
    doc: dict[str, Any] = {"platform": platform, "warehouse": _warehouse(get),
                           "fleet": _fleet(get),
                           "orders": {oid: _drop(get, oid, resolve) for oid in picked}}
    if get("plan"):
        doc["plan"] = get("plan")
    if get("start"):
        doc["start"] = _time(get("start"), "start")
    if get("speed_kmh"):
        doc["speed_kmh"] = _number(get("speed_kmh"), "speed (km/h)")
    return doc


def read_upload(data: bytes) -> dict[str, Any]:
    """An uploaded request file's JSON object, read as ``dispatch plan`` reads its file."""
    doc = read_json(data, "the request file")
    if not isinstance(doc, dict):
        raise ValidationError("the request file must hold a JSON object", arg="request")
    return doc


def request_from_upload(data: bytes, platform: str, names: Mapping[str, str]) -> dict[str, Any]:
    """An uploaded request file (the JSON ``dispatch plan --request`` reads). Its platform
    may be left out (the member's own); another platform's request is refused unsolved."""
    return own_request(read_upload(data), platform, names)


def own_request(doc: dict[str, Any], platform: str, names: Mapping[str, str]
                ) -> dict[str, Any]:
    """``doc`` as the request of the member's ``platform`` (named in it, or left out);
    another platform's request is refused (:class:`Forbidden`) unsolved."""
    named = doc.get("platform") or platform
    if named != platform:
        raise Forbidden(f"the request is for platform {names.get(str(named), named)}; you "
                        f"plan for {names.get(platform, platform)} only",
                        platform=str(named))
    return {**doc, "platform": platform}
