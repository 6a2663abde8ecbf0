"""Mass balance of registered lots: no lot yields more than it holds.

What a food-safety auditor checks per lot, kept by the trace contract in its own state. This
module holds the ledger of each lot and unit and the transformation half (consuming); the
aggregation half (packing, unpacking, nesting, linking) is :mod:`._trace_packing`.

- A lot holds the quantity its maker declared (``products.create_batch``, in its unit). A
  TransformationEvent consumes from each registered input lot the quantities its
  ``inputQuantityList`` gives for it, converted into the lot's unit; a lot named without a
  quantity (in ``inputEPCList``, or a quantity element with none) consumes all that is left.
  Only a lot's custodian changes its balance: an inspector or an owner may record on a lot,
  but neither consumes nor packs it.
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
  pieces, and nothing of a lot measured otherwise (an item's own mass is not known), which
  must still have something left (or be packed where the item goes): a lot gone whole
  took its items with it.
- An object that is not a registered lot (an SSCC pallet, an unregistered intermediate)
  carries what was packed into it, or what a transformation made it from: named as an input
  it is consumed whole (the lots packed on it count as consumed, and need the recorder's
  custody as if named themselves) and never again, with the units packed in it; nothing is
  packed into, or made into, an object that a transformation consumed (that would graft
  goods upstream of outputs made before). Objects carrying nothing registered are free.

Outputs are not checked against inputs: processes add water and yields vary, so an output's
quantity says nothing about its inputs. What is bounded is how much of a lot goes anywhere.
State: ``q/{lot}`` {used, packed}; ``u/{parent}`` {lots: {lot: packed now}, carried: ever
held or was made from registered goods, spent: consumed by a transformation, and only once
nesting happened: units: [units packed in it now], in: the unit it is packed in now; x:
the state keys of the transformations in parts it is an output of that carried nothing
registered then};
``i/{item}`` the transformation that consumed the item.

Rules v5: an event's recording that changes the balance keeps what it took (``r/``), and an
error declaration of the event gives it back (:mod:`._trace_giveback`); a unit then also
numbers each lot's stay on it (``seq``, ``at``: {lot: stay}, see :mod:`._trace_packing`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from supplyledger.contracts.builtin._customs_model import batch_key as customs_batch_key
from supplyledger.contracts.builtin._trace_lots import CTX, ONE, Lot, as_text, shown
from supplyledger.contracts.builtin.custody import holding_key, reserved_by
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden, InvalidState

__all__ = ["Balance"]

Resolve = Callable[[str], tuple[str, dict[str, Any] | None]]


class Balance:
    """The balance changes of one event: every check first, then :meth:`commit` writes (so a
    refused event of a document leaves nothing behind for the events after it). Packing
    adds the aggregation methods (:class:`._trace_packing.Packing`)."""

    def __init__(self, ctx: Ctx, resolve: Resolve) -> None:
        self.ctx, self.resolve = ctx, resolve
        self.lots: dict[str, Lot] = {}
        self.units: dict[str, dict[str, Any]] = {}
        self.items: dict[str, str] = {}  # serialised items consumed -> their lot
        self.changed: dict[str, None] = {}  # lots to write, in order
        self.dirty: dict[str, None] = {}  # units to write
        # (rules v5) what this event takes, so an error declaration can give it back: per
        # lot {used, packed: Decimal, at: the lot's stay on the parent}; the units it spent
        self.took: dict[str, dict[str, Any]] = {}
        self.spent: list[str] = []

    def lot(self, batch: str) -> Lot:
        if batch not in self.lots:
            b = self.ctx.read("products", f"b/{batch}") or {}
            s = self.ctx.get(f"q/{batch}") or {"used": "0", "packed": "0"}
            declared = bool(b.get("quantity"))
            self.lots[batch] = Lot(batch, Decimal(b["quantity"]) if declared else ONE,
                                    str(b.get("uom", "")), declared, Decimal(s["used"]),
                                    Decimal(s["packed"]))
        return self.lots[batch]

    def unit(self, ident: str) -> dict[str, Any]:
        if ident not in self.units:
            self.units[ident] = self.ctx.get(f"u/{ident}") or {"lots": {},
                                                               "carried": False,
                                                               "spent": False}
        return self.units[ident]

    def _asks(self, f: dict[str, Any], only: set[str] | None, *, taking: bool = True,
              into: dict[str, Any] | None = None) -> dict[str, list[Decimal] | None]:
        """Per registered lot the event names (of ``only``, if given): the amounts named in
        its unit, or None for all that is left. Items count as one piece each; when
        ``taking``, an item of a lot not counted in pieces needs the lot to have something
        left (or to be packed in ``into``)."""
        asks: dict[str, list[Decimal] | None] = {}
        for ident, q, uom in f["qty"]:
            batch, h = self.resolve(ident)
            if h is None or (only is not None and batch not in only):
                continue
            lot = self.lot(batch)
            named = asks.setdefault(batch, [])
            if batch != ident:  # a serialised item of the lot
                if f["type"] == "TransformationEvent":
                    self._item(ident, batch)
                if lot.pieces():
                    if named is not None:
                        named.append(ONE)
                elif taking:
                    self.present(batch, into, ident)
            elif not q:
                asks[batch] = None
            else:
                amount = lot.amount(q, uom)
                if named is not None:
                    named.append(amount)
        return asks

    def present(self, batch: str, into: dict[str, Any] | None, named: str) -> None:
        """Refuse ``named`` (the lot or an item of it) if the lot has nothing left, unless it
        is packed in ``into`` now: the lot went elsewhere whole, its items with it, so
        nothing more may come of it."""
        lot = self.lot(batch)
        if lot.left > 0 or (into is not None and batch in into["lots"]):
            return
        raise InvalidState(
            f"batch {batch} has nothing left ({as_text(lot.used)} consumed, "
            f"{as_text(lot.packed)} packed): nothing more may come of it, so {named} cannot "
            "be used, packed or linked here",
            current="insufficient_quantity", batch=batch, quantity=as_text(lot.quantity)
            if lot.declared else "", uom=lot.uom, left="0", asked=named)

    def held(self, batch: str, where: str = "") -> None:
        """Only the custodian changes a lot's balance (whoever else may record on it)."""
        h = self.ctx.read("custody", holding_key(batch))
        org = self.ctx.org or ""
        if h is None or h["custodian_org"] != org:
            raise Forbidden(f"custody of {batch}{where} is not held by organisation "
                            f"{org or '-'}")

    def _item(self, item: str, batch: str) -> None:
        if item in self.items or self.ctx.exists(f"i/{item}"):
            raise InvalidState(f"item {item} was consumed by an earlier transformation",
                               current="consumed", item=item)
        self.items[item] = batch

    def took_from(self, batch: str, what: str, amount: Decimal) -> dict[str, Any]:
        """Note that this event took ``amount`` of ``batch`` (``what``: used or packed)."""
        t = self.took.setdefault(batch, {})
        t[what] = CTX.add(t.get(what, Decimal(0)), amount)
        return t

    def transform(self, f: dict[str, Any], joined: str = "", carried: bool = False) -> bool:
        """A transformation: consume its registered inputs and the carriers it names; mark
        its object outputs as made from registered goods if it consumed any (or
        ``carried``: an earlier part of the transformation ``joined`` did; else they carry
        once a later part does). Returns whether it did."""
        registered = carried
        for batch, named in self._asks(f, None, into=None).items():
            self._not_sold(batch)
            lot = self.lot(batch)
            if named is None or named:
                got = lot.take(named)
                lot.used = CTX.add(lot.used, got)
                self.took_from(batch, "used", got)
                self.changed[batch] = None
            registered = True
        registered |= bool(self.items)
        for ident in dict.fromkeys(f["inputs"]):
            if self.resolve(ident)[1] is None:
                registered |= self._consume_unit(ident)
        for ident in dict.fromkeys(f["outputs"]):
            if self.resolve(ident)[1] is not None:
                continue
            if registered:
                u = self._unspent(ident, "made into it")
                u["carried"] = True
                self.dirty[ident] = None
            elif joined:  # carries once the transformation does (unless consumed by then)
                u = self.unit(ident)
                if not (u["carried"] or u["spent"] or joined in u.get("x", ())):
                    u["x"] = [*u.get("x", ()), joined]
                    self.dirty[ident] = None
        return registered

    def _unspent(self, ident: str, what: str) -> dict[str, Any]:
        """The unit record of ``ident``, unless a transformation consumed it."""
        u = self.unit(ident)
        if u["spent"]:
            raise InvalidState(f"{ident} was consumed by a transformation: nothing can be "
                               f"{what} any more", current="consumed")
        return u

    def _not_sold(self, batch: str) -> None:
        """A lot an order reserves is what the buyer pays for: it may be packed and shipped,
        not turned into something else (a new lot the seller could sell again). A lot under
        an open customs declaration is under customs control: turned into a new lot, the
        goods would leave that control."""
        order = reserved_by(self.ctx, batch)
        if order is not None:
            raise InvalidState(f"batch {batch} is reserved by order {order}: it cannot be "
                               "consumed by a transformation while the order runs",
                               current="reserved", batch=batch, order=order)
        held = self.ctx.read("customs", customs_batch_key(batch))
        if held:
            decl = held[0]["declaration"]
            raise InvalidState(f"batch {batch} is under customs declaration {decl}: it cannot "
                               "be consumed by a transformation until it is decided",
                               current="customs", batch=batch, declaration=decl)

    def carries(self, ident: str) -> bool:
        """Whether an object holds, held or was made from registered goods."""
        u = self.unit(ident)
        if u["carried"] or u["lots"] or u.get("units"):
            return True
        # an output of transformations in parts (rules v3): carries once one of them does
        return any((self.ctx.get(k) or {}).get("carried") for k in u.get("x", ()))

    def _consume_unit(self, ident: str, inside: str | None = None) -> bool:
        """Consume an object named as an input (or packed in one, ``inside``), with the
        units packed in it; True if it carried registered goods."""
        u = self.unit(ident)
        carries = self.carries(ident)
        if carries and u["spent"]:
            raise InvalidState(f"{ident} was consumed by an earlier transformation: what it "
                               "carried cannot be used again", current="consumed")
        where = u.get("in")
        if where and where != inside:
            raise InvalidState(f"{ident} is packed in {where}: unpack it first, or name "
                               f"{where}", current="packed", unit=ident, parent=where)
        for child in u.get("units", ()):
            self._consume_unit(child, ident)
        if u.get("units"):
            u["units"] = []
        for batch, packed in u["lots"].items():
            self.held(batch, f", packed in {ident},")  # as for a lot named itself
            self._not_sold(batch)
            lot = self.lot(batch)
            lot.packed = CTX.subtract(lot.packed, Decimal(packed))
            lot.used = CTX.add(lot.used, Decimal(packed))
            self.took_from(batch, "used", Decimal(packed))
            self.changed[batch] = None
        if not u["spent"]:
            self.spent.append(ident)
        u["lots"], u["spent"] = {}, True
        u.pop("at", None)  # (rules v5) every lot's stay on it ends
        self.dirty[ident] = None
        return carries

    def commit(self) -> None:
        for batch in self.changed:
            lot = self.lots[batch]
            self.ctx.put(f"q/{batch}", {"used": as_text(lot.used), "packed": as_text(lot.packed)})
            consumed, packed, remaining = shown(lot)
            self.ctx.emit("balance", batch=batch, consumed=consumed, packed=packed,
                          remaining=remaining)
        for ident in self.dirty:
            self.ctx.put(f"u/{ident}", self.units[ident])
        for item in self.items:
            self.ctx.put(f"i/{item}", self.ctx.tx_id)
