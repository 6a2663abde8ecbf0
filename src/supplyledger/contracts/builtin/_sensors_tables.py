"""The sensors contract's projection tables and the projectors that fill them.

``sensor_breaches`` has one row per (breach, marked batch), so a per-batch KPI such as the
cold-chain excursion rate is a plain count; its columns are read by other modules (KPIs,
trace pages), so their names are part of the interface. ``sensor_batches`` keeps the
summary of each reading batch (the readings stay in the signed transaction: join on
``tx``). A breach row's ``rule_version`` is the version of ``rule`` it was judged against
(sensors rules v5; empty for breaches found before). Times are ms since the epoch,
measures in the contract's integer units.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert

__all__ = ["BATCHES", "BREACHES", "DEVICES", "RULES", "TABLES", "project"]

DEVICES = Table(
    "sensor_devices",
    (("did", "TEXT"), ("org", "TEXT"), ("name", "TEXT"), ("model", "TEXT"), ("kind", "TEXT"),
     ("target", "TEXT"), ("shipment", "TEXT"), ("batches", "TEXT"), ("bound_by", "TEXT"),
     ("seq", "INTEGER"), ("last_t", "INTEGER"), ("since", "INTEGER"), ("tx", "TEXT")),
    ("did",), (("target",),),
)
RULES = Table(
    "sensor_rules",
    (("key", "TEXT"), ("scope", "TEXT"), ("target", "TEXT"), ("version", "INTEGER"),
     ("temp_min", "INTEGER"), ("temp_max", "INTEGER"), ("temp_excursion_ms", "INTEGER"),
     ("hum_min", "INTEGER"), ("hum_max", "INTEGER"), ("hum_excursion_ms", "INTEGER"),
     ("shock_max", "INTEGER"), ("geofence", "TEXT"), ("set_by", "TEXT"), ("tx", "TEXT"),
     ("height", "INTEGER"), ("time", "INTEGER")),
    ("key",),
)
BATCHES = Table(
    "sensor_batches",
    (("device", "TEXT"), ("seq", "INTEGER"), ("count", "INTEGER"), ("first_t", "INTEGER"),
     ("last_t", "INTEGER"), ("temp_min", "INTEGER"), ("temp_max", "INTEGER"),
     ("hum_min", "INTEGER"), ("hum_max", "INTEGER"), ("shock_max", "INTEGER"),
     ("lat", "INTEGER"), ("lon", "INTEGER"), ("kind", "TEXT"), ("target", "TEXT"),
     ("shipment", "TEXT"), ("batches", "TEXT"), ("breaches", "INTEGER"), ("tx", "TEXT"),
     ("height", "INTEGER")),
    ("device", "seq"), (("target",), ("tx",)),
)
BREACHES = Table(
    "sensor_breaches",
    (("id", "TEXT"), ("batch", "TEXT"), ("device", "TEXT"), ("shipment", "TEXT"),
     ("rule", "TEXT"), ("kind", "TEXT"), ("started", "INTEGER"), ("ended", "INTEGER"),
     ("worst", "INTEGER"), ("detail", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER"),
     ("time", "INTEGER"), ("rule_version", "INTEGER")),
    ("id", "batch"), (("batch",), ("device",)),
)
TABLES = (DEVICES, RULES, BATCHES, BREACHES)


def _registered(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("sensor_devices", (e["did"], e["org"], e["name"], e["model"], None, None,
                                      None, "", "", 0, None, m.time, m.tx))]


def _bound(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("sensor_devices", (e["device"],), (
        ("kind", e["kind"]), ("target", e["target"]), ("shipment", e["shipment"]),
        ("batches", " ".join(e["batches"])), ("bound_by", e["by"]), ("tx", m.tx)))]


def _unbound(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("sensor_devices", (e["device"],), (
        ("kind", None), ("target", None), ("shipment", None), ("batches", ""),
        ("bound_by", ""), ("tx", m.tx)))]


def _rule_set(e: dict[str, Any], m: EventMeta) -> list[Op]:
    r = m.args  # the prepared rule (normal form)
    temp, hum, shock = r.get("temp") or [None] * 3, r.get("hum") or [None] * 3, r.get("shock")
    fence = r.get("geofence")
    return [Upsert("sensor_rules", (
        e["key"], r["scope"], r["target"], e["v"], *temp, *hum,
        shock[1] if shock else None,
        json.dumps(fence, sort_keys=True, separators=(",", ":")) if fence else None,
        m.signer, m.tx, m.height, m.time))]


def _recorded(e: dict[str, Any], m: EventMeta) -> list[Op]:
    s = m.args["summary"]
    temp, hum, shock = s["temp"] or (None, None), s["hum"] or (None, None), s["shock"]
    pos = s["pos"] or (None, None, None)
    return [Upsert("sensor_batches", (
                e["device"], e["seq"], s["n"], s["first"], s["last"], *temp, *hum,
                shock[1] if shock else None, pos[1], pos[2], e["kind"], e["target"],
                e["shipment"], " ".join(e["batches"]), e["breaches"], m.tx, m.height)),
            Update("sensor_devices", (e["device"],), (("seq", e["seq"]),
                                                      ("last_t", s["last"])))]


def _breach(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("sensor_breaches", (
        e["id"], batch, e["device"], e["shipment"], e["rule"], e["kind"], e["start"],
        e["ended"], e["worst"], e["detail"], m.tx, m.height, m.time, e.get("rule_version")))
        for batch in e["batches"]]


def _breach_updated(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("sensor_breaches", (e["id"], batch), (
        ("ended", e["ended"]), ("worst", e["worst"]), ("detail", e["detail"])))
        for batch in e["batches"]]


project: dict[str, Callable[[dict[str, Any], EventMeta], list[Op]]] = {
    "device_registered": _registered, "bound": _bound, "unbound": _unbound,
    "rule_set": _rule_set, "recorded": _recorded, "breach": _breach,
    "breach_updated": _breach_updated,
}
