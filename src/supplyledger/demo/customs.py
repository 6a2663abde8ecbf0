"""Imports through customs (paper 004): Orchard Oils brings olive oil from Spain.

The consortium admin appoints the port's customs office as China's authority and the
settlement bank as the publisher of exchange rates into yuan; the office publishes the
tariff lines for the oils it sees, the bank the EUR/CNY rate, and Orchard Oils declares
each consignment.
The contract assesses duty and VAT at once; Orchard Oils pays them into the declaration's
escrow. The first consignment is held for a documents check, released and cleared, so the
office's account receives the duties; the second is rejected for its labels, and the
escrow refunds it. To pay the Spanish exporter for the first, Orchard Oils exchanges yuan
for euros at the bank's quote (``fx``), instructs the bank to pay them out, and the bank
wires the euros as instructed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from supplyledger.demo.cast import DAY, HOUR, Person, Sim
from supplyledger.ledger.crypto import PrivateKey

__all__ = ["customs_story", "setup_customs"]

IMPORTER = "Orchard Oils"
OFFICER = "customs"
# HS prefix -> (duty bp, VAT bp): olive oil and rapeseed oil, as the office publishes them
TARIFF = {"1509": (1000, 900), "1514": (900, 900)}
EUR_CNY = 7_810_000_000  # CNY fen per euro cent, x 10^9
CNY_EUR = 126_500_000  # the bank's quote: euro cents per fen, x 10^9, spread included


def setup_customs(sim: Sim, admin: PrivateKey, p: dict[str, Person]) -> None:
    since = sim.now()
    sim.ok(admin, "customs", "appoint", {"country": "CN", "org": p[OFFICER].org,
                                         "currency": "CNY"})
    for prefix, (duty, vat) in TARIFF.items():
        sim.ok(p[OFFICER], "customs", "set_tariff", {
            "country": "CN", "hs_prefix": prefix, "currency": "CNY", "duty_bp": duty,
            "vat_bp": vat, "de_minimis": 500_000, "effective_from": since})
    sim.ok(admin, "customs", "appoint_rates", {"quote": "CNY", "org": p["bank"].org})
    sim.ok(p["bank"], "customs", "set_rate", {"base": "EUR", "quote": "CNY",
                                               "rate": EUR_CNY, "time": since})
    sim.ok(p["bank"], "payments", "deposit", {"account": p[IMPORTER].did, "currency": "CNY",
                                              "amount": 13_000_000, "reference": "import float"})
    sim.ok(p["bank"], "payments", "deposit", {"account": p["bank"].did, "currency": "EUR",
                                              "amount": 5_000_000, "reference": "EUR float"})


def _declare(sim: Sim, p: dict[str, Person], did: str, litres: int, euro_cents: int) -> Any:
    return sim.ok(p[IMPORTER], "customs", "declare", {
        "id": did, "origin": "ES", "destination": "CN", "incoterm": "DAP",
        "lines": [{"hs": "1509.20.00", "description": "Extra virgin olive oil, 5 L tins",
                   "quantity": litres, "value": euro_cents, "currency": "EUR"}]})


def customs_story(sim: Sim, p: dict[str, Person], at: int) -> Iterator[int]:
    yield at
    _declare(sim, p, "IMP-2026-0001", 1_200, 1_150_000)
    yield at + 2 * HOUR
    sim.ok(p[IMPORTER], "customs", "pay", {"declaration": "IMP-2026-0001"})
    yield at + 5 * HOUR
    sim.ok(p[OFFICER], "customs", "hold", {"declaration": "IMP-2026-0001",
                                           "reason": "certificate of origin to be checked"})
    yield at + DAY
    sim.ok(p[OFFICER], "customs", "release", {"declaration": "IMP-2026-0001"})
    sim.ok(p[OFFICER], "customs", "clear", {"declaration": "IMP-2026-0001"})
    yield at + DAY + 2 * HOUR
    sim.ok(p["bank"], "fx", "quote", {"pay": "CNY", "get": "EUR", "rate": CNY_EUR,
                                      "until": sim.now() + HOUR})
    paid = sim.ok(p[IMPORTER], "fx", "exchange", {
        "dealer": p["bank"].did, "pay": "CNY", "amount": 9_100_000, "get": "EUR",
        "min_get": 1_150_000})
    # The bank pays out only what Orchard Oils instructed it to (payments rules v2).
    sim.ok(p[IMPORTER], "payments", "instruct_withdrawal", {
        "id": "W-IMP-2026-0001", "currency": "EUR", "amount": 1_150_000,
        "bank": p["bank"].org, "reference": "exporter invoice for IMP-2026-0001"})
    yield at + DAY + 3 * HOUR
    sim.ok(p["bank"], "payments", "withdraw", {
        "instruction": "W-IMP-2026-0001",
        "reference": f"SEPA to the exporter, IMP-2026-0001 ({paid['received']} cents bought)"})
    yield at + 3 * DAY
    _declare(sim, p, "IMP-2026-0002", 400, 380_000)
    yield at + 3 * DAY + HOUR
    sim.ok(p[IMPORTER], "customs", "pay", {"declaration": "IMP-2026-0002"})
    yield at + 4 * DAY
    sim.ok(p[OFFICER], "customs", "reject", {"declaration": "IMP-2026-0002",
                                             "reason": "labels lack the Chinese text"})
