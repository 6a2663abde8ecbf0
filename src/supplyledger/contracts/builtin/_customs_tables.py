"""The customs contract's query tables and the projectors that build them from its events.

Every row comes from an event alone (plus the transaction's signer, height and time), so the
audit rebuilds the tables from the blocks exactly. Published tariffs and rates keep every
version as a row, also those the contract no longer holds in state: the tables are the
public record of what was in force when.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin.payments import project_money
from supplyledger.contracts.projection import EventMeta, Op, Projector, Table, Update, Upsert
from supplyledger.ledger.encoding import canonical

__all__ = ["PROJECTORS", "TABLES"]

DECLARATIONS = Table(
    "customs_declarations",
    (("id", "TEXT"), ("declarant", "TEXT"), ("origin", "TEXT"), ("destination", "TEXT"),
     ("authority", "TEXT"), ("state", "TEXT"), ("currency", "TEXT"), ("value", "INTEGER"),
     ("duty", "INTEGER"), ("vat", "INTEGER"), ("paid", "INTEGER"), ("incoterm", "TEXT"),
     ("order_id", "TEXT"), ("assessment", "TEXT"), ("declared_at", "INTEGER"),
     ("tx", "TEXT")),
    ("id",), (("declarant",), ("destination", "state"), ("order_id",)))
HISTORY = Table(
    "customs_history",
    (("declaration", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER"), ("event", "TEXT"),
     ("state", "TEXT"), ("signer", "TEXT"), ("time", "INTEGER"), ("reason", "TEXT")),
    ("declaration", "tx"), (("height",),))
TARIFFS = Table(
    "customs_tariffs",
    (("country", "TEXT"), ("prefix", "TEXT"), ("effective_from", "INTEGER"),
     ("currency", "TEXT"), ("duty_bp", "INTEGER"), ("vat_bp", "INTEGER"),
     ("de_minimis", "INTEGER"), ("authority", "TEXT"), ("tx", "TEXT")),
    ("country", "prefix", "effective_from"))
RATES = Table(
    "fx_rates",
    (("base", "TEXT"), ("quote", "TEXT"), ("time", "INTEGER"), ("rate", "INTEGER"),
     ("scale", "INTEGER"), ("by_", "TEXT"), ("tx", "TEXT")),
    ("base", "quote", "time"))
TABLES = (DECLARATIONS, HISTORY, TARIFFS, RATES)


def _history(event: str, e: dict[str, Any], m: EventMeta) -> Upsert:
    return Upsert("customs_history", (e["declaration"], m.tx, m.height, event, e["state"],
                                      m.signer, m.time, e.get("reason", "")))


def _declared(e: dict[str, Any], m: EventMeta) -> list[Op]:
    a = e["assessment"]
    return [Upsert("customs_declarations", (
        e["declaration"], m.signer, e["origin"], e["destination"], e["authority"], e["state"],
        a["currency"], a["value"], a["duty"], a["vat"], 0, e["incoterm"], e["order"],
        canonical(a["lines"]).decode(), m.time, m.tx)), _history("declared", e, m)]


def _transition(event: str) -> Projector:
    def project(e: dict[str, Any], m: EventMeta) -> list[Op]:
        values = [("state", e["state"]), ("tx", m.tx)]
        for column in ("paid", "authority"):  # authority: passed on (customs rules v3)
            if column in e:
                values.append((column, e[column]))
        return [Update("customs_declarations", (e["declaration"],), tuple(values)),
                _history(event, e, m)]

    return project


def _tariff_set(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("customs_tariffs", (
        e["country"], e["prefix"], e["effective_from"], e["currency"], e["duty_bp"],
        e["vat_bp"], e["de_minimis"], e["authority"], m.tx))]


def _rate_set(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("fx_rates", (e["base"], e["quote"], e["time"], e["rate"], e["scale"],
                                m.signer, m.tx))]


PROJECTORS: dict[str, Projector] = {
    "customs.declared": _declared,
    **{f"customs.{ev}": _transition(ev)
       for ev in ("paid", "held", "released", "cleared", "rejected")},
    "customs.tariff_set": _tariff_set,
    "customs.rate_set": _rate_set,
    "customs.money": project_money,
}
