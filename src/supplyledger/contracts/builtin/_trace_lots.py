"""A registered lot's quantities for the trace contract's mass balance: units, exact decimal
arithmetic and what is left.

Units convert exactly within their kind (UN/ECE Rec. 20 codes: mass, volume, counts); a
conversion that does not terminate is rounded up at 12 decimals, so a lot is never credited
with more than it held. Arithmetic runs in an explicit 80-digit Decimal context (never the
thread's) and state holds canonical decimal text: deterministic, no floats. The rules of
the balance itself are in :mod:`._trace_balance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal

from supplyledger.errors import InvalidState, ValidationError

__all__ = ["CTX", "ONE", "Lot", "as_text", "shown", "total"]

CTX = Context(prec=80, rounding=ROUND_CEILING)  # explicit: never the thread's context
_STEP = Decimal("1e-12")
_ZERO, ONE = Decimal(0), Decimal(1)
_KINDS: dict[str, tuple[str, Decimal]] = {  # UN/ECE Rec. 20 code -> (kind, size in its base)
    "KGM": ("mass", ONE), "GRM": ("mass", Decimal("0.001")),
    "MGM": ("mass", Decimal("0.000001")), "TNE": ("mass", Decimal(1000)),
    "LBR": ("mass", Decimal("0.45359237")), "ONZ": ("mass", Decimal("0.028349523125")),
    "LTR": ("volume", ONE), "MLT": ("volume", Decimal("0.001")),
    "MTQ": ("volume", Decimal(1000)),
    "": ("count", ONE), "H87": ("count", ONE), "C62": ("count", ONE), "EA": ("count", ONE),
}


def as_text(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _unit(uom: str) -> str:
    return uom or "a count (no uom)"


def _convert(v: Decimal, frm: str, to: str) -> Decimal | None:
    """``v`` in ``frm`` expressed in ``to``, rounded up at 12 decimals; None if the units do
    not compare. (Every amount has at most 12 decimals and 42 digits before the point, so
    sums in the 80-digit context are exact.)"""
    if frm != to:
        a, b = _KINDS.get(frm), _KINDS.get(to)
        if a is None or b is None or a[0] != b[0]:
            return None
        v = CTX.divide(CTX.multiply(v, a[1]), b[1])
    return v.quantize(_STEP, context=CTX)


def total(values: list[Decimal]) -> Decimal:
    total = _ZERO
    for v in values:
        total = CTX.add(total, v)
    return total


@dataclass
class Lot:
    batch: str
    quantity: Decimal
    uom: str
    declared: bool
    used: Decimal
    packed: Decimal

    @property
    def left(self) -> Decimal:
        return CTX.subtract(CTX.subtract(self.quantity, self.used), self.packed)

    def pieces(self) -> bool:
        return self.declared and _KINDS.get(self.uom, ("",))[0] == "count"

    def amount(self, q: str, uom: str) -> Decimal:
        """A named quantity (decimal text, from the prepare step) in this lot's unit."""
        v = Decimal(q)
        if v <= 0:
            raise ValidationError(f"the quantity of {self.batch} must be more than 0, not {q}",
                                  arg="quantity", batch=self.batch)
        if v.adjusted() > 40:  # far beyond any declared quantity (24 characters)
            v = Decimal("1e41")
        if not self.declared:
            return v
        out = _convert(v, uom, self.uom)
        if out is None:
            raise ValidationError(
                f"quantity {q}{' ' + uom if uom else ''} of {self.batch}: {_unit(uom)} "
                f"cannot be compared with {_unit(self.uom)}, the unit of the lot's "
                "declared quantity",
                arg="uom", batch=self.batch, uom=uom, lot_uom=self.uom)
        return out

    def take(self, named: list[Decimal] | None) -> Decimal:
        """How much an event takes: the sum of ``named``, or (None) all that is left;
        refused if that is more than is left, or if nothing is."""
        if not self.declared:
            if self.left <= 0:
                raise InvalidState(
                    f"batch {self.batch} declares no quantity, so it is consumed or packed "
                    "whole, once, and it already was: nothing is left",
                    current="insufficient_quantity", batch=self.batch, quantity="",
                    uom=self.uom, left="0", asked="all")
            return self.left
        want = self.left if named is None else total(named)
        if want > self.left or (named is None and self.left <= 0) or want <= 0:
            u = f" {self.uom}" if self.uom else ""
            asked = "all that is left" if named is None else f"{as_text(want)}{u}"
            raise InvalidState(
                f"batch {self.batch} holds {as_text(self.quantity)}{u}: {as_text(self.used)} "
                f"consumed and {as_text(self.packed)} packed before, {as_text(self.left)}{u} "
                f"left, this event asks {asked}",
                current="insufficient_quantity", batch=self.batch,
                quantity=as_text(self.quantity), uom=self.uom, left=as_text(self.left),
                asked="all" if named is None else as_text(want))
        return want


def shown(lot: Lot) -> tuple[str, str, str]:
    """(consumed, packed, remaining) as the batches table shows them: decimal text in the
    lot's unit, or all/0 for a lot that declares no quantity."""
    if lot.declared:
        return as_text(lot.used), as_text(lot.packed), as_text(lot.left)
    return ("all" if lot.used else "0", "all" if lot.packed else "0",
            "all" if lot.left > 0 else "0")
