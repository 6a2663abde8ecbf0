"""Events that share a ``transformationID`` are one transformation (trace rules v3).

EPCIS 2.0 lets a transformation be captured in parts: events with the same
``transformationID`` each name some of its inputs or outputs, and every input of any of them
went into every output of any of them. Rules v1 and v2 linked only the inputs and outputs
of one event, so a milling captured as "wheat in" and, later, "flour out" left the flour
out of the wheat's recall.

State ``x/<sha-256 hex of the id>`` holds {org, by, in, out, carried}: who recorded the
first part, the chains (batches or objects) named as inputs and outputs so far, and
whether any part consumed registered goods (an object output then carries them). Only that
organisation (or, without one, that participant) adds parts: anyone else naming the id
would graft its inputs upstream of another organisation's outputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden

__all__ = ["Joined", "join", "key"]


def key(tid: str) -> str:
    """State key of a transformation id (hashed: ids are URIs of any length)."""
    return "x/" + hashlib.sha256(tid.encode()).hexdigest()


@dataclass
class Joined:
    """A transformation's parts recorded before this event, and what this event adds."""

    tid: str
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def ins(self) -> list[str]:
        return list(self.state.get("in", ()))

    @property
    def outs(self) -> list[str]:
        return list(self.state.get("out", ()))

    @property
    def carried(self) -> bool:
        return bool(self.state.get("carried"))

    def pairs(self, srcs: list[str], dsts: list[str]) -> list[tuple[str, str]]:
        """Every (input, output) pair this event adds to the transformation: its own and
        those crossing to the parts recorded before."""
        ins, outs = self.ins, self.outs
        return ([(s, d) for s in srcs for d in dict.fromkeys([*dsts, *outs])]
                + [(s, d) for s in ins if s not in srcs for d in dsts])

    def save(self, ctx: Ctx, srcs: list[str], dsts: list[str], carried: bool) -> None:
        s = self.state
        ctx.put(key(self.tid), {
            "org": s.get("org", ctx.org or ""), "by": s.get("by", ctx.signer),
            "in": list(dict.fromkeys([*self.ins, *srcs])),
            "out": list(dict.fromkeys([*self.outs, *dsts])),
            "carried": self.carried or carried})


def join(ctx: Ctx, tid: str) -> Joined:
    """The transformation ``tid`` as recorded so far; Forbidden if another organisation
    recorded it."""
    s = ctx.get(key(tid)) or {}
    org = ctx.org or ""
    if s and not ((org and s["org"] == org) or s["by"] == ctx.signer):
        raise Forbidden(f"transformation {tid} was recorded by organisation "
                        f"{s['org'] or s['by']}: only that organisation adds inputs or "
                        f"outputs to it, not organisation {org or '-'}")
    return Joined(tid, s)
