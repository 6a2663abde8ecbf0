"""The assessment of a customs declaration: customs value, duty and VAT per line, from the
ledger's tariffs and exchange rates, in integer arithmetic only.

Per line, in this order, each step rounded half-up to the destination currency's minor unit
(:func:`~._customs_model.half_up`; the totals are sums of the rounded line amounts, so a line
always adds up on its own):

1. customs value = value x rate / 10^9, with the exchange rate from the line's currency to
   the destination's in force at the declaration's time (none needed in the same currency);
2. the tariff is the longest HS prefix in force (10, then 8, 6, 4, 2 digits: at most five
   reads per line, never a scan);
3. duty = customs value x duty rate (basis points), waived when the declaration's total
   customs value is below that tariff's de-minimis value;
4. VAT = (customs value + duty) x VAT rate (basis points): the usual import VAT base.

Every line reports the prefix matched, the tariff's rates and de-minimis value, the exchange
rate and its time, and the amounts, so the declarant (or an auditor) can recompute it.

Rules v5: its refusals give each amount with its currency and unit, and in major units:
"1250 CNY minor units (12.50 CNY)" (:func:`~._customs_model.money`).

Rules v4: the assessment also raises the high-water marks of what it used (the country's
tariffs, each rate version it converted at; see ``_customs_model``), so no version
published afterwards can take effect at or before its time.

A declaration naming an order must declare its transaction value (WTO valuation method 1,
:func:`check_transaction_value`): the order's price (quantity x unit price), or the price
plus its freight where the destination values goods delivered to its border (CIF, as the
EU) rather than at export (FOB, as the US) -- the contract does not know which, so it
accepts either and nothing else. Lines all in the order's currency compare exactly; else
both sides are compared in the destination's currency, the price converted at the rate in
force, within the rounding: half a minor unit per conversion, so one for a single one.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._customs_model import (
    BP,
    RATE_SCALE,
    ROUNDING,
    half_up,
    in_force,
    mark_rate_used,
    mark_tariffs_used,
    money,
    rate_key,
    tariff_key,
)
from supplyledger.contracts.builtin.payments import MAX_AMOUNT
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import AmountError, NotFound, ValueMismatch

__all__ = ["PREFIX_LENGTHS", "assess", "check_transaction_value", "decimal_rate", "prefixes"]

PREFIX_LENGTHS = (10, 8, 6, 4, 2)


def prefixes(hs: str) -> list[str]:
    """The prefixes of ``hs`` a tariff may be published for, longest first."""
    return [hs[:n] for n in PREFIX_LENGTHS if n <= len(hs)]


def decimal_rate(rate: int) -> str:
    """An exchange rate as a decimal string: 1_085_000_000 -> "1.085000000"."""
    return f"{rate // RATE_SCALE}.{rate % RATE_SCALE:09d}"


def _tariff(ctx: Ctx, cc: str, hs: str) -> tuple[str, dict[str, Any]]:
    for p in prefixes(hs):
        v = in_force(ctx.get(tariff_key(cc, p)), ctx.time)
        if v is not None:
            return p, v
    raise NotFound(f"{cc} has no tariff in force for HS {hs} (nor any of its prefixes "
                   f"{', '.join(prefixes(hs)[1:])})", country=cc, hs=hs)


def _convert(ctx: Ctx, value: int, base: str, quote: str, what: str,
             arg: str) -> tuple[int, Any]:
    if base == quote:
        return value, None
    key = rate_key(base, quote)
    versions = ctx.get(key)
    v = in_force(versions, ctx.time)
    if v is None:
        raise NotFound(f"no {base}->{quote} exchange rate in force for {what}",
                       base=base, quote=quote)
    mark_rate_used(ctx, key, versions, v)
    converted = half_up(value * v["rate"], RATE_SCALE)
    if converted > MAX_AMOUNT:
        if ctx.version >= 5:
            raise AmountError(f"{what}: {money(value, base)} is {money(converted, quote)}, "
                              f"more than {money(MAX_AMOUNT, quote)}", arg=arg)
        raise AmountError(f"{what}: {value} {base} is {converted} {quote}, more than "
                          f"{MAX_AMOUNT} minor units", arg=arg)
    return converted, {"rate": v["rate"], "scale": RATE_SCALE, "decimal": decimal_rate(
        v["rate"]), "from": v["from"], "pair": f"{base}/{quote}"}


def assess(ctx: Ctx, country: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Assess ``lines`` (validated and normalised) for ``country`` (its state record) at
    the call's time."""
    cc, ccy = country["country"], country["currency"]
    rows: list[dict[str, Any]] = []
    for i, ln in enumerate(lines):
        value, fx = _convert(ctx, ln["value"], ln["currency"], ccy, f"line {i}",
                             f"lines[{i}].value")
        prefix, t = _tariff(ctx, cc, ln["hs"])
        rows.append({"line": i, "hs": ln["hs"], "description": ln["description"],
                     "quantity": ln["quantity"], "value": ln["value"],
                     "currency": ln["currency"], "fx": fx, "customs_value": value,
                     "tariff": {"prefix": prefix, "from": t["from"], "duty_bp": t["duty_bp"],
                                "vat_bp": t["vat_bp"], "de_minimis": t["de_minimis"]}})
    mark_tariffs_used(ctx, country)
    total = sum(r["customs_value"] for r in rows)
    if total > MAX_AMOUNT:
        if ctx.version >= 5:
            raise AmountError(f"the declaration's customs value {money(total, ccy)} exceeds "
                              f"{money(MAX_AMOUNT, ccy)}", arg="lines")
        raise AmountError(f"the declaration's customs value {total} {ccy} exceeds "
                          f"{MAX_AMOUNT} minor units", arg="lines")
    for r in rows:
        t = r["tariff"]
        r["duty_waived"] = total < t["de_minimis"]
        r["duty"] = 0 if r["duty_waived"] else half_up(r["customs_value"] * t["duty_bp"], BP)
        r["vat"] = half_up((r["customs_value"] + r["duty"]) * t["vat_bp"], BP)
    duty = sum(r["duty"] for r in rows)
    vat = sum(r["vat"] for r in rows)
    if duty + vat > MAX_AMOUNT:
        if ctx.version >= 5:
            raise AmountError(f"duty {money(duty, ccy)} + VAT {money(vat, ccy)} exceed "
                              f"{money(MAX_AMOUNT, ccy)}", arg="lines")
        raise AmountError(f"duty {duty} + VAT {vat} {ccy} exceed {MAX_AMOUNT} minor units",
                          arg="lines")
    return {"currency": ccy, "value": total, "duty": duty, "vat": vat, "due": duty + vat,
            "rounding": ROUNDING, "lines": rows}


def check_transaction_value(ctx: Ctx, order: dict[str, Any], lines: list[dict[str, Any]],
                            res: dict[str, Any]) -> None:
    """Refuse a declaration of ``order`` (assessed as ``res``) whose value is not the
    order's price, with or without its freight (see the module docstring)."""
    price = order["unit_price"] * order["quantity"]
    ccy, dest = order["currency"], res["currency"]
    expected = [price, price + order["freight"]]
    if all(ln["currency"] == ccy for ln in lines):
        declared, tolerance = sum(ln["value"] for ln in lines), 0
    else:
        declared, rounded = res["value"], sum(ln["currency"] != dest for ln in lines)
        if ccy != dest:
            rounded += 1
            expected = [_convert(ctx, v, ccy, dest, f"order {order['id']}'s price",
                                 "order")[0] for v in expected]
        ccy, tolerance = dest, (rounded + 1) // 2
    if all(abs(declared - e) > tolerance for e in expected):
        details = {"declared": declared, "price": expected[0], "with_freight": expected[1],
                   "currency": ccy, "tolerance": tolerance}
        if ctx.version >= 5:
            within = f", within {tolerance} minor unit{'s' if tolerance > 1 else ''}"
            raise ValueMismatch(
                f"declared value {money(declared, ccy)} is not order {order['id']}'s price "
                f"{money(expected[0], ccy)} (nor {money(expected[1], ccy)} with its freight"
                f"{within if tolerance else ''}): customs value is the transaction value",
                **details)
        raise ValueMismatch(
            f"declared value {declared} {ccy} is not order {order['id']}'s price "
            f"{expected[0]} {ccy} (nor {expected[1]} with its freight"
            f"{f', within {tolerance}' if tolerance else ''}): customs value is the "
            "transaction value", **details)
