"""Who may record on an object that is not a registered lot: an SSCC pallet, a container, an
imported identifier of goods not registered here.

Such an object has no owner or custodian in the custody contract, yet its chain and its
genealogy edges show in the trace and recall of every lot packed onto it. The rule:

- A logistic unit registered with ``products.register_unit`` belongs to the registering
  organisation from the start (registration is refused for a unit another organisation has
  already claimed). Any other object is claimed by the organisation whose event first
  touches it, unless that event is an inspector's inspection.
- An SSCC under a GS1 company prefix an admin recorded for an organisation
  (``identity.set_prefixes``) is that organisation's to claim or register first: anyone
  else gets ``prefix_owned`` (no front-running another company's pallet numbers). An SSCC
  under a prefix nobody recorded keeps the first-claim rule, so a consortium can adopt
  prefixes one member at a time; claims made before a prefix was recorded stay.
- An event touches an object when it is appended to the object's chain (an event about no
  registered lot), when the object is an aggregation's parent (packing into it, unpacking
  it), or when it is a transformation's input or output (that links it into a genealogy).
- Once claimed, only these may touch it: a member of the claiming organisation; the
  custodian organisation of a registered lot packed into it now (the carrier or warehouse
  holding the goods records on the pallet, and the receiver unpacks it); an inspector, for
  inspection events. A lot packed in a unit packed in it (a case on the pallet) counts too.

Claims are kept in ``o/{object}`` as {org, by}; a participant without an organisation is
matched by its own id. Objects an event merely lists next to a registered lot are not
touched: the event goes to the lot's chain only, and links nothing to them.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.builtin.identity import check_prefix
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden

__all__ = ["Claims", "lots_in"]


def lots_in(ctx: Ctx, ident: str) -> list[str]:
    """The lots packed in ``ident`` now, directly or in units packed in it."""
    lots: list[str] = []
    seen, todo = {ident}, [ident]
    while todo:
        u = ctx.get(f"u/{todo.pop()}") or {}
        lots.extend(u.get("lots", {}))
        for child in u.get("units", ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return lots


class Claims:
    """The objects one event touches: checked as they come, new claims written by
    :meth:`commit` once every check of the event has passed."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.new: dict[str, dict[str, str]] = {}

    def _claim(self, ident: str) -> tuple[dict[str, Any] | None, bool]:
        """(claim, whether it is a registered unit's) of ``ident``."""
        c = self.ctx.get(f"o/{ident}")
        if c is not None:
            return c, False
        unit = self.ctx.read("products", f"u/{ident}")
        if unit is not None:
            return {"org": unit["org"], "by": unit["owner"]}, True
        return None, False

    def touch(self, ident: str, link: str) -> None:
        """Check that the signer may touch ``ident`` (claiming it if nobody has)."""
        ctx, org = self.ctx, self.ctx.org or ""
        if ident in self.new:
            return
        inspecting = link == "inspection" and ctx.has_role("inspector")
        c, registered = self._claim(ident)
        if c is None:
            if not inspecting:  # a lab inspects others' goods: that makes them not its own
                check_prefix(ctx, ident)
                self.new[ident] = {"org": org, "by": ctx.signer}
            return
        if (org and c["org"] == org) or c["by"] == ctx.signer or inspecting:
            return
        for lot in lots_in(ctx, ident):
            h = ctx.read("custody", holding_key(lot))
            if h is not None and ((org and h["custodian_org"] == org)
                                  or h["custodian"] == ctx.signer):
                return
        whose = (f"is a logistic unit registered by organisation {c['org'] or c['by']}"
                 if registered else f"was first recorded by organisation {c['org'] or c['by']}")
        raise Forbidden(f"{ident} {whose}: only that organisation, the custodian of a lot "
                        "packed in it, or an inspector (for inspections) may record on it, "
                        f"not organisation {org or '-'}")

    def commit(self) -> None:
        for ident, c in self.new.items():
            self.ctx.put(f"o/{ident}", c)
