"""A committed reading batch as an EPCIS 2.0 ObjectEvent with a sensorElementList.

Pure (no clock, no state): ``readings_to_epcis`` turns the readings of one signed batch into
the event a partner's EPCIS repository can capture. The event OBSERVEs the watched batches
(``quantityList`` by LGTIN class) or the container (``epcList`` by SSCC) at the device
(``readPoint``), with business step ``sensor_reporting``; ``sensorMetadata.rawData`` names
the ledger transaction that carries the signed readings, so the export can be checked
against the ledger.

Units are UN/ECE Recommendation 20 codes, as EPCIS requires: ``CEL`` (degree Celsius) for
temperature, ``P1`` (percent) for relative humidity, ``K40`` (standard acceleration of free
fall, g) for shock, ``DD`` (degree of angle) for latitude/longitude with the WGS 84 reference
system. The ledger's integers are scaled back to those units here, and only here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["UNITS", "WGS84", "readings_to_epcis"]

UNITS = {"temp": ("Temperature", "CEL", 1000), "hum": ("RelativeHumidity", "P1", 10),
         "shock": ("Acceleration", "K40", 1000)}
WGS84 = "http://www.opengis.net/def/crs/EPSG/0/4326"


def _iso(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _num(v: int, scale: int) -> int | float:
    """An integer in 1/scale units as the JSON number EPCIS carries (exact when whole)."""
    return v // scale if v % scale == 0 else v / scale


def readings_to_epcis(device: str, seq: int, readings: Sequence[Mapping[str, int]], *,
                      batches: Sequence[str] = (), container: str | None = None,
                      tx: str | None = None) -> dict[str, Any]:
    """The EPCIS 2.0 ObjectEvent of one reading batch (``readings`` as the device signed
    them: ``t`` in ms, ``temp`` m°C, ``hum`` per-mille, ``shock`` milli-g, ``lat``/``lon``
    micro-degrees). ``tx`` is the ledger transaction id that recorded it."""
    reports: list[dict[str, Any]] = []
    for r in readings:
        when = _iso(r["t"])
        for key, (mtype, uom, scale) in UNITS.items():
            if key in r:
                reports.append({"type": mtype, "value": _num(r[key], scale), "uom": uom,
                                "time": when})
        if "lat" in r:
            for comp in ("latitude", "longitude"):
                reports.append({"type": "Angle", "component": comp, "uom": "DD",
                                "value": _num(r[comp[:3]], 1_000_000),
                                "coordinateReferenceSystem": WGS84, "time": when})
    meta: dict[str, Any] = {"deviceID": device, "startTime": _iso(readings[0]["t"]),
                            "endTime": _iso(readings[-1]["t"])}
    if tx is not None:
        meta["rawData"] = f"urn:supplyledger:tx:{tx}"
    event: dict[str, Any] = {
        "type": "ObjectEvent", "eventTime": _iso(readings[-1]["t"]),
        "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "sensor_reporting",
        "readPoint": {"id": device},
        "sensorElementList": [{"sensorMetadata": meta, "sensorReport": reports}],
    }
    if container:
        event["epcList"] = [container]
    if batches:
        event["quantityList"] = [{"epcClass": b} for b in batches]
    event["eventID"] = f"urn:supplyledger:sensors:{device}:{seq}"
    return event
