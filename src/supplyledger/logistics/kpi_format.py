"""Display strings for KPI rows (the CLI table and the dashboard panel show the same
text): money in major units with the ISO 4217 exponent, hours, percentages with their
population, "no data" where a contract's tables are missing."""

from __future__ import annotations

from typing import Any

__all__ = ["cells", "money"]

# ISO 4217 currencies whose minor unit is not the hundredth (the web tables use this too).
_EXPONENT = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                              "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
             **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3)}


def money(minor: int, ccy: str) -> str:
    """Minor units as ``CNY 12.34`` (ISO 4217 exponent; 2 unless listed)."""
    e = _EXPONENT.get(ccy, 2)
    if e == 0:
        return f"{ccy} {minor:,}"
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**e)
    return f"{ccy} {sign}{whole:,}.{frac:0{e}d}"


def _hours(h: dict[str, Any]) -> str:
    return "—" if h["median"] is None else f"{h['median']} / {h['mean']}"


def _pct(p: dict[str, Any] | None) -> str:
    if p is None:
        return "n/a"
    return "—" if p["pct"] is None else f"{p['pct']} % ({p['hit']}/{p['n']})"


def cells(row: dict[str, Any]) -> dict[str, str]:
    """One period's KPIs as display strings."""
    cost = "; ".join(money(c["total"], c["currency"]) for c in row["cost_per_order"])
    exc = row["excursions"]
    co2 = row["co2e_per_order"]
    sat = row["satisfaction"]
    return {
        "orders": f"{row['orders']['placed']}"
                  + (f" ({row['orders']['cancelled']} cancelled)"
                     if row["orders"]["cancelled"] else ""),
        "processing": _hours(row["processing_hours"]),
        "delivery": _hours(row["delivery_hours"]),
        "cost": cost or "—",
        "otif": _pct(row["otif"]),
        "excursions": "n/a" if exc is None else _pct(exc["orders"]),
        "satisfaction": "—" if sat["mean"] is None else f"{sat['mean']} ({sat['n']})",
        "co2e": "n/a" if co2 is None else (
            "—" if co2["mean_g"] is None else f"{co2['mean_g']} g ({co2['n']}/{co2['of']})"),
    }
