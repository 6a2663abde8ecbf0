"""Mass balance of registered lots: no lot yields more than it holds.

What a food-safety auditor checks per lot, kept by the trace contract in its own state:

- A lot holds the quantity its maker declared (``products.create_batch``, in its unit). A
  TransformationEvent consumes from each registered input lot the quantities its
  ``inputQuantityList`` gives for it, converted into the lot's unit; a lot named without a
  quantity (in ``inputEPCList``, or a quantity element with none) consumes all that is left.
  An AggregationEvent ``ADD`` packs what it names of each lot it is recorded on into its
  parent, by the same rules; ``DELETE`` gives back what was packed into that parent (the
  quantity named, else all; an unpacking that names no child empties the parent).
- Left = quantity - consumed - packed. Asking for more than is left, or for anything when
  nothing is left, is refused (``InvalidState``, current ``insufficient_quantity``, naming the
  lot, its quantity, what is left and what was asked); so is a quantity that is not more than
  0, or in a unit that cannot be compared with the lot's (``ValidationError``). Goods on a
  pallet are not free to mill too: unpack them first, or name the pallet.
- Units convert exactly within their kind: mass (KGM, GRM, MGM, TNE, LBR, ONZ), volume (LTR,
  MLT, MTQ) and counts (no uom, which EPCIS reads as a count of instances, H87, C62, EA); any
  other code compares only with itself. A conversion that does not terminate is rounded up
  at 12 decimals, so a lot is never credited with more than it held. Arithmetic is Decimal in
  an explicit context and state holds decimal text: deterministic, no floats.
- A lot that declares no quantity is consumed or packed whole, once.
- A serialised item of a registered lot is an input once; it is one piece of a lot counted in
  pieces, and nothing of a lot measured otherwise (an item's own mass is not known).
- An object that is not a registered lot (an SSCC pallet, an unregistered intermediate)
  carries what was packed into it, or what a transformation made it from: named as an input
  it is consumed whole (the lots packed on it count as consumed, and need the recorder's
  custody as if named themselves) and never again; nothing is packed into, or made into, an
  object that a transformation consumed (that would graft goods upstream of outputs made
  before). Objects carrying nothing registered are free as before.

Outputs are not checked against inputs: processes add water and yields vary, so an output's
quantity says nothing about its inputs. What is bounded is how much of a lot goes anywhere.
State: ``q/{lot}`` {used, packed}; ``u/{parent}`` {lots: {lot: packed now}, carried: ever
held or was made from registered goods, spent: consumed by a transformation};
``i/{item}`` the transformation that consumed the item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal
from typing import Any

from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden, InvalidState, ValidationError

__all__ = ["Balance", "shown"]

Resolve = Callable[[str], tuple[str, dict[str, Any] | None]]
_CTX = Context(prec=80, rounding=ROUND_CEILING)  # explicit: never the thread's context
_STEP = Decimal("1e-12")
_ZERO, _ONE = Decimal(0), Decimal(1)
_KINDS: dict[str, tuple[str, Decimal]] = {  # UN/ECE Rec. 20 code -> (kind, size in its base)
    "KGM": ("mass", _ONE), "GRM": ("mass", Decimal("0.001")),
    "MGM": ("mass", Decimal("0.000001")), "TNE": ("mass", Decimal(1000)),
    "LBR": ("mass", Decimal("0.45359237")), "ONZ": ("mass", Decimal("0.028349523125")),
    "LTR": ("volume", _ONE), "MLT": ("volume", Decimal("0.001")),
    "MTQ": ("volume", Decimal(1000)),
    "": ("count", _ONE), "H87": ("count", _ONE), "C62": ("count", _ONE), "EA": ("count", _ONE),
}


def _text(d: Decimal) -> str:
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
        v = _CTX.divide(_CTX.multiply(v, a[1]), b[1])
    return v.quantize(_STEP, context=_CTX)


def _sum(values: list[Decimal]) -> Decimal:
    total = _ZERO
    for v in values:
        total = _CTX.add(total, v)
    return total


@dataclass
class _Lot:
    batch: str
    quantity: Decimal
    uom: str
    declared: bool
    used: Decimal
    packed: Decimal

    @property
    def left(self) -> Decimal:
        return _CTX.subtract(_CTX.subtract(self.quantity, self.used), self.packed)

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
        want = self.left if named is None else _sum(named)
        if want > self.left or (named is None and self.left <= 0) or want <= 0:
            u = f" {self.uom}" if self.uom else ""
            asked = "all that is left" if named is None else f"{_text(want)}{u}"
            raise InvalidState(
                f"batch {self.batch} holds {_text(self.quantity)}{u}: {_text(self.used)} "
                f"consumed and {_text(self.packed)} packed before, {_text(self.left)}{u} "
                f"left, this event asks {asked}",
                current="insufficient_quantity", batch=self.batch,
                quantity=_text(self.quantity), uom=self.uom, left=_text(self.left),
                asked="all" if named is None else _text(want))
        return want


def shown(lot: _Lot) -> tuple[str, str, str]:
    """(consumed, packed, remaining) as the batches table shows them: decimal text in the
    lot's unit, or all/0 for a lot that declares no quantity."""
    if lot.declared:
        return _text(lot.used), _text(lot.packed), _text(lot.left)
    return ("all" if lot.used else "0", "all" if lot.packed else "0",
            "all" if lot.left > 0 else "0")


class Balance:
    """The balance changes of one event: every check first, then :meth:`commit` writes (so a
    refused event of a document leaves nothing behind for the events after it)."""

    def __init__(self, ctx: Ctx, resolve: Resolve) -> None:
        self.ctx, self.resolve = ctx, resolve
        self.lots: dict[str, _Lot] = {}
        self.units: dict[str, dict[str, Any]] = {}
        self.items: list[str] = []
        self.changed: dict[str, None] = {}  # lots to write, in order
        self.dirty: dict[str, None] = {}  # units to write

    def lot(self, batch: str) -> _Lot:
        if batch not in self.lots:
            b = self.ctx.read("products", f"b/{batch}") or {}
            s = self.ctx.get(f"q/{batch}") or {"used": "0", "packed": "0"}
            declared = bool(b.get("quantity"))
            self.lots[batch] = _Lot(batch, Decimal(b["quantity"]) if declared else _ONE,
                                    str(b.get("uom", "")), declared, Decimal(s["used"]),
                                    Decimal(s["packed"]))
        return self.lots[batch]

    def unit(self, ident: str) -> dict[str, Any]:
        if ident not in self.units:
            self.units[ident] = self.ctx.get(f"u/{ident}") or {"lots": {},
                                                               "carried": False,
                                                               "spent": False}
        return self.units[ident]

    def _asks(self, f: dict[str, Any], only: set[str] | None) -> dict[str, list[Decimal] | None]:
        """Per registered lot the event names (of ``only``, if given): the amounts named in
        its unit, or None for all that is left. Items count as one piece each."""
        asks: dict[str, list[Decimal] | None] = {}
        for ident, q, uom in f["qty"]:
            batch, h = self.resolve(ident)
            if h is None or (only is not None and batch not in only):
                continue
            lot = self.lot(batch)
            named = asks.setdefault(batch, [])
            if batch != ident:  # a serialised item of the lot
                if f["type"] == "TransformationEvent":
                    self._item(ident)
                if lot.pieces() and named is not None:
                    named.append(_ONE)
            elif not q:
                asks[batch] = None
            else:
                amount = lot.amount(q, uom)
                if named is not None:
                    named.append(amount)
        return asks

    def _item(self, item: str) -> None:
        if item in self.items or self.ctx.exists(f"i/{item}"):
            raise InvalidState(f"item {item} was consumed by an earlier transformation",
                               current="consumed", item=item)
        self.items.append(item)

    def transform(self, f: dict[str, Any]) -> None:
        """A transformation: consume its registered inputs and the carriers it names; mark
        its object outputs as made from registered goods."""
        registered = False
        for batch, named in self._asks(f, None).items():
            lot = self.lot(batch)
            if named is None or named:
                lot.used = _CTX.add(lot.used, lot.take(named))
                self.changed[batch] = None
            registered = True
        registered |= bool(self.items)
        for ident in dict.fromkeys(f["inputs"]):
            if self.resolve(ident)[1] is None:
                registered |= self._consume_unit(ident)
        if registered:
            for ident in dict.fromkeys(f["outputs"]):
                if self.resolve(ident)[1] is None:
                    u = self.unit(ident)
                    if u["spent"]:
                        raise InvalidState(f"{ident} was consumed by a transformation: nothing "
                                           "can be made into it any more", current="consumed")
                    u["carried"] = True
                    self.dirty[ident] = None

    def _consume_unit(self, ident: str) -> bool:
        """Consume an object named as an input; True if it carried registered goods."""
        u = self.unit(ident)
        carries = bool(u["lots"]) or u["carried"]
        if carries and u["spent"]:
            raise InvalidState(f"{ident} was consumed by an earlier transformation: what it "
                               "carried cannot be used again", current="consumed")
        org = self.ctx.org or ""
        for batch, packed in u["lots"].items():
            h = self.ctx.read("custody", holding_key(batch))
            if h is None or h["custodian_org"] != org:  # as for a lot named itself
                raise Forbidden(f"custody of {batch}, packed in {ident}, is not held by "
                                f"organisation {org or '-'}")
            lot = self.lot(batch)
            lot.packed = _CTX.subtract(lot.packed, Decimal(packed))
            lot.used = _CTX.add(lot.used, Decimal(packed))
            self.changed[batch] = None
        u["lots"], u["spent"] = {}, True
        self.dirty[ident] = None
        return carries

    def pack(self, f: dict[str, Any], parent: str, lots: list[str]) -> None:
        """An aggregation ADD of ``lots`` (those it is recorded on) into ``parent``."""
        if not lots:
            return
        u = self.unit(parent)
        if u["spent"]:
            raise InvalidState(f"{parent} was consumed by a transformation: nothing can be "
                               "packed into it any more", current="consumed")
        for batch, named in self._asks(f, set(lots)).items():
            if named is not None and not named:
                continue  # only items of a lot not counted in pieces
            lot = self.lot(batch)
            got = lot.take(named)
            lot.packed = _CTX.add(lot.packed, got)
            u["lots"][batch] = _text(_CTX.add(Decimal(u["lots"].get(batch, "0")), got))
            u["carried"] = True
            self.changed[batch] = None
            self.dirty[parent] = None

    def unpack(self, f: dict[str, Any], parent: str, lots: list[str]) -> None:
        """An aggregation DELETE: give back what ``lots`` (or, with no child named, every
        lot) had packed into ``parent``."""
        u = self.unit(parent)
        if lots:
            asks = self._asks(f, set(lots))
        elif not f["objects"]:
            asks = dict.fromkeys(u["lots"])
        else:
            return
        for batch, named in asks.items():
            if batch not in u["lots"] or named == []:
                continue
            lot, packed = self.lot(batch), Decimal(u["lots"][batch])
            back = packed if named is None or not lot.declared else min(packed, _sum(named))
            lot.packed = _CTX.subtract(lot.packed, back)
            if back == packed:
                del u["lots"][batch]
            else:
                u["lots"][batch] = _text(_CTX.subtract(packed, back))
            self.changed[batch] = None
            self.dirty[parent] = None

    def commit(self) -> None:
        for batch in self.changed:
            lot = self.lots[batch]
            self.ctx.put(f"q/{batch}", {"used": _text(lot.used), "packed": _text(lot.packed)})
            consumed, packed, remaining = shown(lot)
            self.ctx.emit("balance", batch=batch, consumed=consumed, packed=packed,
                          remaining=remaining)
        for ident in self.dirty:
            self.ctx.put(f"u/{ident}", self.units[ident])
        for item in self.items:
            self.ctx.put(f"i/{item}", self.ctx.tx_id)
