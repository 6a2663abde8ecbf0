"""Money and exchange rates for people: the ledger keeps integers (minor units; rates as
quote minor units per base minor unit x 10^9, nothing hashed is a float), pages show
``EUR 11,500.00`` and ``1 EUR = 7.81 CNY``.

Used on projection cells (the FX tables, a customs declaration's assessment) and on call
results (``customs.declare`` answers with its assessment, ``fx.quote`` with a rate,
``orders.place`` with the escrow it holds, ``orders.confirm`` with what it paid whom,
``credit.assess`` with the order volume settled in each currency). A credit assessment's
factors (a call's result, a ``credit_assessments`` cell) read in the order of the sum that
makes the score: factor, what it measures, its evidence, its value (also as a percentage),
weight and the points it earned (the stored JSON sorts them by name: points before the value
and weight they come from). A
result that does not name its currency is read in the call's (``readable(doc, "CNY")``: the
page finds it in the arguments or the order, instruction or declaration the call was about),
so no page shows "escrow 6350" for CNY 63.50. Only the display changes; table cells keep the
stored integer in their tooltip.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from supplyledger.api.web.units import in_unit
from supplyledger.contracts.builtin.fx import RATE_SCALE
from supplyledger.logistics.kpi_format import money

__all__ = ["FOLDED_COLUMNS", "RATE_COLUMNS", "factor_rows", "fx_cell", "fx_rate", "readable",
           "readable_cell"]

# Rate cells: (table, column) -> (base currency column, quote currency column, scale column
# or None for the contracts' fixed scale).
RATE_COLUMNS: dict[tuple[str, str], tuple[str, str, str | None]] = {
    ("fx_rates", "rate"): ("base", "quote", "scale"),
    ("fx_quotes", "rate"): ("pay", "get", None),
    ("fx_trades", "rate"): ("pay", "get", None),
}
# Columns shown inside another cell (the scale is part of the rate shown), not on their own.
FOLDED_COLUMNS = frozenset({("fx_rates", "scale")})
# Amounts in call results, in the result's currency (its own "currency" or the call's).
_RESULT_MONEY = ("value", "duty", "vat", "due", "paid", "escrow", "reserved", "balance",
                 "amount", "returned", "collected", "refunded", "refund", "freight_paid",
                 "repay")
# A payout's shares (orders' "paid": seller, financier, buyer, transporter), each an amount.
_RESULT_SHARES = ("paid",)
# Amounts per currency, each keyed by its currency (a participant's settled order volume).
_PER_CURRENCY = ("volume",)
_ISO = re.compile(r"[A-Z]{3}")


def _exponent(ccy: str) -> int:
    # The ISO 4217 exponent, as ``money`` applies it: the digits after its point.
    text = money(1, ccy)
    return len(text.rpartition(".")[2]) if "." in text else 0


def fx_rate(rate: int, base: str, quote: str, scale: int = RATE_SCALE) -> str:
    """``1 EUR = 7.81 CNY`` from a rate in quote minor units per base minor unit x
    ``scale``; exact (a power-of-ten division), trailing zeros dropped."""
    major = Decimal(rate).scaleb(_exponent(base) - _exponent(quote)) / Decimal(scale)
    text = format(major.normalize(), "f") if major else "0"
    return f"1 {base} = {text} {quote}"


def fx_cell(row: dict[str, Any], table: str, column: str) -> str:
    base, quote, scale = RATE_COLUMNS[(table, column)]
    return fx_rate(int(row[column]), str(row[base]), str(row[quote]),
                   int(row[scale]) if scale and row.get(scale) else RATE_SCALE)


def _pair(doc: dict[str, Any]) -> tuple[str, str] | None:
    pair = doc.get("pair")
    if isinstance(pair, str):
        for sep in ("->", "/"):
            if sep in pair:
                base, _, quote = pair.partition(sep)
                return base, quote
    if isinstance(doc.get("pay"), str) and isinstance(doc.get("get"), str):
        return doc["pay"], doc["get"]
    return None


def _line(ln: dict[str, Any], dest: str) -> dict[str, Any]:
    """One assessed line: its value in its own currency, the rest in the destination's."""
    ccy = str(ln.get("currency") or dest)
    fx = ln.get("fx")
    tariff = ln["tariff"]
    duty = money(ln["duty"], dest) + (" (waived: below the de-minimis value)"
                                      if ln.get("duty_waived") else "")
    return {"line": ln.get("line"), "hs": ln.get("hs"), "description": ln.get("description"),
            "quantity": ln.get("quantity"), "value": money(ln["value"], ccy),
            "exchange_rate": readable(fx)["rate"] if isinstance(fx, dict) else "—",
            "customs_value": money(ln["customs_value"], dest),
            "tariff": f"HS {tariff['prefix']}: duty {in_unit(tariff['duty_bp'], 'duty_bp')}, "
                      f"VAT {in_unit(tariff['vat_bp'], 'vat_bp')}, de minimis "
                      f"{money(tariff['de_minimis'], dest)}",
            "duty": duty, "vat": money(ln["vat"], dest)}


def _lines(lines: list[Any], dest: str) -> list[Any]:
    try:
        return [_line(ln, dest) for ln in lines]
    except (KeyError, TypeError, ValueError):  # a shape this page does not know: as stored
        return lines


_FACTOR = ("factor", "meaning", "evidence", "value", "weight", "points")


def factor_rows(factors: Any) -> Any:
    """A credit assessment's factors in the order the score is read (see the module
    docstring); ``factors`` as they are if not in the shape ``credit.assess`` records."""
    if not isinstance(factors, list) or not all(
            isinstance(f, dict) and set(_FACTOR) <= set(f) for f in factors):
        return factors
    out = []
    for f in factors:
        try:
            pct = f"{Decimal(str(f['value'])) * 100:.1f}%"
        except ArithmeticError:
            pct = ""
        out.append({"factor": str(f["factor"]).replace("_", " "), "measures": f["meaning"],
                    "evidence": f["evidence"],
                    "value": f"{f['value']} ({pct})" if pct else f["value"],
                    "weight": f["weight"], "points": f["points"]})
    return out


def _amount(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def readable(doc: Any, currency: str | None = None) -> Any:
    """A call result with its money and rates as people read them; ``currency`` is the
    call's, for a result that does not name its own."""
    if isinstance(doc, list):
        return [readable(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    pair = _pair(out)
    if isinstance(out.get("rate"), int) and isinstance(out.get("scale"), int) and pair:
        out["rate"] = fx_rate(out["rate"], *pair, scale=out["scale"])
        out.pop("scale")
        out.pop("decimal", None)
    if pair and _amount(out.get("paid")) and _amount(out.get("received")):
        # an exchange: paid in one currency, received in the other
        out["paid"], out["received"] = money(out["paid"], pair[0]), money(out["received"],
                                                                          pair[1])
    own = out.get("currency")
    ccy = own if isinstance(own, str) else currency
    if isinstance(ccy, str) and ccy:
        for k in _RESULT_MONEY:
            if _amount(out.get(k)):
                out[k] = money(out[k], ccy)
        for k in _RESULT_SHARES:
            shares = out.get(k)
            if isinstance(shares, dict) and shares and all(map(_amount, shares.values())):
                out[k] = {who: money(v, ccy) for who, v in shares.items()}
        if isinstance(out.get("lines"), list):
            out["lines"] = _lines(out["lines"], ccy)
    # Totals per currency (credit.assess's "volume": {"CNY": 92500}), each in its own.
    for k in _PER_CURRENCY:
        totals = out.get(k)
        if isinstance(totals, dict) and totals and all(
                _amount(v) and isinstance(c, str) and _ISO.fullmatch(c)
                for c, v in totals.items()):
            out[k] = {c: money(v, c) for c, v in totals.items()}
    if "factors" in out:
        out["factors"] = factor_rows(out["factors"])
    return {k: v if k == "lines" else readable(v) for k, v in out.items()}


def readable_cell(parsed: Any, table: str, column: str, row: dict[str, Any]) -> Any:
    """A JSON cell (already parsed) as people read it: a customs assessment's lines get
    their amounts with currencies."""
    if parsed is None:
        return None
    if (table, column) == ("customs_declarations", "assessment") and isinstance(
            parsed, list) and isinstance(row.get("currency"), str):
        return _lines(parsed, row["currency"])
    if (table, column) == ("credit_assessments", "factors"):
        return factor_rows(parsed)
    return parsed
