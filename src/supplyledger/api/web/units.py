"""Table cells for people: the projection columns that hold scaled integers (nothing that is
hashed is a float, so the ledger keeps milli-degrees, per-mille, micro-degrees, metres,
grams, milliseconds and basis points) or 0/1 flags, shown with their unit; and UN/CEFACT
Rec. 20 unit codes (``KGM``, ``CEL``, ``P1``) as the symbols people read.

Only the display changes: the pages put the stored integer in the cell's tooltip. An
order's quantity counts trade items of its product, shown as pieces. Column headings and form
labels read as words (``unit_price`` is "Unit price", ``to_`` is "To", ``distance_m``,
whose cells say "12.5 km", is "Distance", ``gtin`` is "GTIN").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["UNIT_COLUMNS", "heading", "in_unit", "label", "uom"]

_UOM = {"KGM": "kg", "TNE": "t", "GRM": "g", "LTR": "l", "MTR": "m", "H87": "pcs",
        "CEL": "°C", "P1": "%"}


def uom(code: Any) -> str:
    """A UN/CEFACT unit code as its symbol; an unknown code as it is."""
    return _UOM.get(str(code), str(code))


def _scaled(scale: int, digits: int, unit: str) -> Callable[[int], str]:
    # Integer arithmetic, rounded half up: exact for any stored value, whatever its size.
    def show(v: int) -> str:
        q = (abs(v) * 10**digits * 2 + scale) // (2 * scale)
        whole, frac = divmod(q, 10**digits)
        text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
        return f"{'-' if v < 0 and q else ''}{text}{unit}"
    return show


def _duration(ms: int) -> str:
    s = ms // 1000
    if s < 60:
        return f"{s} s"
    h, m = divmod(s // 60, 60)
    return f"{m} min" if h == 0 else f"{h} h" + (f" {m} min" if m else "")


def _distance(m: int) -> str:
    return f"{m:,} m" if abs(m) < 1000 else _scaled(1000, 1, " km")(m)


def _grams(g: int) -> str:
    return (f"{g:,} g" if abs(g) < 1000 else _scaled(1000, 2, " kg")(g)) + " CO2e"


def _flag(v: int) -> str:
    return "yes" if v else "no"


def _pieces(n: int) -> str:
    # An order counts trade items of its product (its GTIN: a 25 kg bag, a 5 L tin).
    return f"{n:,} pcs"


_MICRO_DEG = _scaled(1_000_000, 6, "°")
# By column name, or by (table, column) where the name alone says too little ("quantity").
UNIT_COLUMNS: dict[str | tuple[str, str], Callable[[int], str]] = {
    **dict.fromkeys(("temp_min", "temp_max"), _scaled(1000, 1, " °C")),
    **dict.fromkeys(("hum_min", "hum_max"), _scaled(10, 1, " % RH")),
    "shock_max": _scaled(1000, 2, " g"),
    **dict.fromkeys(("lat", "lon", "from_lat", "from_lon", "to_lat", "to_lon"), _MICRO_DEG),
    **dict.fromkeys(("distance_m", "remaining_m", "solver_distance_m"), _distance),
    "co2e_g": _grams,
    "mass_kg": _scaled(1, 0, " kg"),
    "speed": _scaled(1000, 0, " km/h"),
    **dict.fromkeys(("duty_bp", "vat_bp"), _scaled(100, 2, " %")),
    **dict.fromkeys(("temp_excursion_ms", "hum_excursion_ms", "dwell_ms", "grace_ms"),
                    _duration),
    **dict.fromkeys(("for_sale", "late", "on_time"), _flag),
    **dict.fromkeys((("orders", "quantity"), ("orders", "delivered")), _pieces),
}


def in_unit(value: int, column: str, table: str = "") -> str:
    """``value`` of ``column`` (of ``table``; one of :data:`UNIT_COLUMNS`) with its unit."""
    return UNIT_COLUMNS.get((table, column), UNIT_COLUMNS.get(column, str))(value)


# Words of column names that are abbreviations or codes, as people read them.
_WORDS = {"id": "ID", "tx": "transaction", "gtin": "GTIN", "gln": "GLN", "sscc": "SSCC",
          "did": "participant ID", "uom": "unit", "eta": "ETA", "vat": "VAT", "co2e": "CO2e",
          "frm": "from", "src": "from", "dst": "to", "lat": "latitude", "lon": "longitude",
          "idx": "index", "seq": "no.", "pos": "position", "t": "reading", "biz": "business",
          "temp": "temperature", "hum": "humidity", "org": "organisation"}
# A unit suffix the cells of those columns already show with each value ("12.5 km").
_UNITS = ("m", "g", "kg", "ms", "bp")


def _spelled(words: list[str]) -> str:
    text = " ".join(_WORDS.get(w, w) for w in words if w)
    return text[:1].upper() + text[1:]


def heading(column: str) -> str:
    """A column's heading: trailing underscore (a name kept off SQL keywords) dropped, a
    unit its cells show dropped, words spelled out, the first capitalised."""
    words = column.rstrip("_").split("_")
    if len(words) > 1 and words[-1] in _UNITS and column in UNIT_COLUMNS:
        words.pop()
    return _spelled(words) or column


def label(name: str) -> str:
    """A form field's label, its words spelled out as in headings; a unit suffix stays, in
    brackets: the field takes the number in it ("duty_bp" is "Duty (bp)")."""
    words = name.rstrip("_").split("_")
    unit = words.pop() if len(words) > 1 and words[-1] in _UNITS else None
    text = _spelled(words) or name
    return f"{text} ({unit})" if unit else text
