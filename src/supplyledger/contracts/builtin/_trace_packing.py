"""Packing half of the mass balance: aggregation events put lots and units into a parent.

- An AggregationEvent ``ADD`` packs what it names of each lot it is recorded on into its
  parent, by the rules of :mod:`._trace_balance` (quantities in the lot's unit, a lot named
  without one gives all that is left); ``DELETE`` gives back what was packed into that parent
  (the quantity named, else all; an unpacking that names no child empties the parent). Only a
  lot's custodian packs or unpacks it.
- A lot linked to a parent without being packed (a TransactionEvent's container, an
  aggregation OBSERVE) must have something left or be packed in that parent, and the
  parent then carries it: else a spent lot, linked to a fresh pallet, reached every output
  that pallet was milled into. Under rules v3 only the lot's custodian links it, as only
  it packs it (v2 let an inspector, who may inspect any lot and touch any object for it,
  link someone else's lot onto another organisation's pallet, upstream of its products).
- Nested units: an object carrying registered goods packed into a parent (a case onto a
  pallet) is held there, once: it is not packed elsewhere, nor consumed by itself, until it
  is unpacked; consuming the parent consumes it and what it carries (so the goods count
  once, whichever container is milled); no unit is packed into itself through another.

- Rules v5: a lot's *stay* on a parent begins when it comes onto it (or, on it from before
  v5, at its next packing there) and again at each partial unpacking; it ends when the lot
  leaves the parent whole or the parent is consumed. A packing declared wrong is given back
  only within its own stay (:mod:`._trace_giveback`): then all it packed is still there.

Kept apart from the balance ledger so each module stays readable; the state is the same
(``q/``, ``u/``), written by :meth:`Balance.commit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from supplyledger.contracts.builtin._trace_balance import Balance
from supplyledger.contracts.builtin._trace_lots import CTX, as_text, total
from supplyledger.errors import InvalidState

__all__ = ["Packing"]


class Packing(Balance):
    """The balance of one event with the aggregation changes: check, then commit."""

    def pack(self, f: dict[str, Any], parent: str, lots: list[str]) -> None:
        """An aggregation ADD of ``lots`` (those it is recorded on) into ``parent``."""
        if not lots:
            return
        u = self._unspent(parent, "packed into it")
        for batch, named in self._asks(f, set(lots), into=u).items():
            self.held(batch)
            u["carried"] = True
            self.dirty[parent] = None
            if named is not None and not named:
                continue  # only items of a lot not counted in pieces: carried, not counted
            lot = self.lot(batch)
            got = lot.take(named)
            lot.packed = CTX.add(lot.packed, got)
            u["lots"][batch] = as_text(CTX.add(Decimal(u["lots"].get(batch, "0")), got))
            self.changed[batch] = None
            if self.ctx.version >= 5:
                if batch not in u.get("at", {}):  # new on it (or on it since before v5)
                    self._stay(u, batch)
                t = self.took_from(batch, "packed", got)
                t["into"], t["at"] = parent, u["at"][batch]

    def nest(self, parent: str, units: list[str]) -> None:
        """An aggregation ADD of ``units`` (objects carrying registered goods) into
        ``parent``: each is held there until unpacked, and the parent carries it."""
        if not units:
            return
        u = self._unspent(parent, "packed into it")
        for child in units:
            c = self.unit(child)
            if c["spent"]:
                raise InvalidState(f"{child} was consumed by a transformation: it cannot be "
                                   "packed any more", current="consumed")
            where = c.get("in")
            if where == parent:
                continue
            if where:
                raise InvalidState(f"{child} is packed in {where}: unpack it there first",
                                   current="packed", unit=child, parent=where)
            up, seen = parent, set()
            while up and up not in seen:  # the parent's containers, outwards
                if up == child:
                    raise InvalidState(f"{parent} is inside {child}: {child} cannot be "
                                       "packed into it", current="nested", unit=child)
                seen.add(up)
                up = self.unit(up).get("in") or ""
            c["in"] = parent
            u["units"] = [*u.get("units", ()), child]
            u["carried"] = True
            self.dirty[child] = self.dirty[parent] = None

    def unnest(self, parent: str, named: set[str] | None) -> list[str]:
        """An aggregation DELETE: take the units ``named`` (None: all) out of ``parent``;
        returns those taken out."""
        u = self.unit(parent)
        inside = list(u.get("units", ()))
        gone = [c for c in inside if named is None or c in named]
        if gone:
            for child in gone:
                self.unit(child).pop("in", None)
                self.dirty[child] = None
            u["units"] = [c for c in inside if c not in gone]
            self.dirty[parent] = None
        return gone

    def link(self, parent: str, lots: list[str], units: Sequence[str] = ()) -> None:
        """An event that links ``lots`` (and ``units``) to ``parent`` without packing them
        (a transaction's container, an observed aggregation): each lot must have something
        left or be packed there, each unit not be consumed, and the parent then carries
        them (so it is consumed once)."""
        if not lots and not units:
            return
        u = self._unspent(parent, "linked to it")
        for batch in lots:
            if self.ctx.version >= 3:  # as for packing (v2: an inspector linked any lot)
                self.held(batch, f", linked to {parent},")
            self.present(batch, u, batch)
        for child in units:
            self._unspent(child, "linked to anything")
        if not u["carried"]:
            u["carried"] = True
            self.dirty[parent] = None

    def unpack(self, f: dict[str, Any], parent: str, lots: list[str]) -> list[str]:
        """An aggregation DELETE: give back what ``lots`` (or, with no child named, every
        lot) had packed into ``parent``; returns the lots no longer packed there at all."""
        u = self.unit(parent)
        gone: list[str] = []
        if lots:
            asks = self._asks(f, set(lots), taking=False)
        elif not f["objects"]:
            asks = dict.fromkeys(u["lots"])
        else:
            return gone
        for batch, named in asks.items():
            if batch not in u["lots"] or named == []:
                continue
            self.held(batch, f", packed in {parent},")
            lot, packed = self.lot(batch), Decimal(u["lots"][batch])
            back = packed if named is None or not lot.declared else min(packed, total(named))
            lot.packed = CTX.subtract(lot.packed, back)
            if back == packed:
                del u["lots"][batch]
                u.get("at", {}).pop(batch, None)
                gone.append(batch)
            else:
                u["lots"][batch] = as_text(CTX.subtract(packed, back))
                if self.ctx.version >= 5:  # what stays on it may not be the packings' own
                    self._stay(u, batch)
            self.changed[batch] = None
            self.dirty[parent] = None
        return gone

    @staticmethod
    def _stay(u: dict[str, Any], batch: str) -> None:
        """(rules v5) A new stay of ``batch`` on the unit ``u``: packings recorded before
        it are given back by an error declaration no more (:mod:`._trace_giveback`)."""
        u["seq"] = u.get("seq", 0) + 1
        u.setdefault("at", {})[batch] = u["seq"]
