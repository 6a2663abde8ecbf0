"""Events that share a ``transformationID`` are one transformation (trace rules v3).

EPCIS 2.0 lets a transformation be captured in parts: events with the same
``transformationID`` each name some of its inputs or outputs, and every input of any of them
went into every output of any of them. Rules v1 and v2 linked only the inputs and outputs
of one event, so a milling captured as "wheat in" and, later, "flour out" left the flour
out of the wheat's recall.

- An id is the recording organisation's own (or, for a participant without one, its own):
  the same id named by another organisation is another transformation. An id is a URI the
  recorder chooses, often predictable (a work order number): were it the first comer's, a
  stranger naming it first would have every later part of its owner refused.
- The genealogy goes through one node per transformation (:func:`hub`, an id no EPCIS
  identifier can be: it holds spaces): each input -> node, node -> each output. A part adds
  an edge per input and output it names, so n parts cost n edges, not n² (every input
  linked to every output); the trace and recall queries pass through the node and never
  list it. An event without an id that has several inputs and several outputs goes through
  a node of its own for the same reason.
- A part that adds inputs needs custody of every output lot of the transformation still:
  the mill that handed its flour to a shop may not then add a lot upstream of that flour.
  A transformation lists at most :data:`MAX_LOTS` output lots (the check reads each, once
  per transaction).
- An error declaration of a part takes the inputs and outputs it names back out of the
  transformation (listed as unpacked from the node): parts recorded after it do not join
  them; what was joined before stays (genealogy is history). Under rules v4 the part's
  edges to and from the node are withdrawn instead, as every edge of an event declared
  wrong is: no later or earlier part joins through them.

State ``x/<sha-256 hex of scope "\\n" id>`` holds {carried, lots, tx}: whether any part
consumed registered goods (an object output then carries them: an object output named
before that records the key in its unit, ``x``, and carries once the transformation does),
the output lots so far, and the transaction that last found them all in the recorder's
custody.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden, ValidationError

__all__ = ["HUB", "MAX_LOTS", "Joined", "event_hub", "hub", "join", "key"]

HUB = "transformation "  # genealogy node ids start so (no EPCIS identifier holds a space)
MAX_LOTS = 1000  # output lots of one transformation


def _scope(ctx: Ctx) -> str:
    return ctx.org or ctx.signer


def key(ctx: Ctx, tid: str) -> str:
    """State key of the signer's organisation's transformation ``tid`` (hashed: ids are
    URIs of any length)."""
    return "x/" + hashlib.sha256(f"{_scope(ctx)}\n{tid}".encode()).hexdigest()


def hub(ctx: Ctx, tid: str) -> str:
    """Genealogy node of the signer's organisation's transformation ``tid``."""
    return f"{HUB}{_scope(ctx)} {tid}"


def event_hub(event_hash: str) -> str:
    """Genealogy node of one event's transformation (several inputs and outputs, no id)."""
    return HUB + event_hash


@dataclass
class Joined:
    """A transformation's parts recorded before this event, and what this event adds."""

    key: str
    hub: str
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def carried(self) -> bool:
        return bool(self.state.get("carried"))

    def check(self, ctx: Ctx, tid: str, inputs: bool, lots: list[str]) -> None:
        """Refuse a part that adds ``inputs`` while an output lot of the transformation is
        in another organisation's custody, or that takes it past MAX_LOTS output lots."""
        have = list(self.state.get("lots", ()))
        more = [lot for lot in dict.fromkeys(lots) if lot not in have]
        if len(have) + len(more) > MAX_LOTS:
            raise ValidationError(
                f"transformation {tid} would have {len(have) + len(more)} output lots, over "
                f"the {MAX_LOTS} one transformation joins: record further outputs under "
                "another transformationID", arg="transformationID", limit=MAX_LOTS)
        if not inputs or self.state.get("tx") == ctx.tx_id:
            return  # (custody does not change within a transaction)
        org = ctx.org or ""
        for lot in have:
            h = ctx.read("custody", holding_key(lot))
            if h is not None and h["custodian_org"] != org:
                raise Forbidden(
                    f"{lot}, an output of transformation {tid}, is held by organisation "
                    f"{h['custodian_org']} now: inputs added to the transformation would "
                    f"change its history, so organisation {org or '-'} may not add them")

    def save(self, ctx: Ctx, inputs: bool, lots: list[str], carried: bool) -> None:
        s = self.state
        new = {"carried": self.carried or carried,
               "lots": list(dict.fromkeys([*s.get("lots", ()), *lots])),
               "tx": ctx.tx_id if inputs else s.get("tx", "")}
        if new != s:
            ctx.put(self.key, new)


def join(ctx: Ctx, tid: str) -> Joined:
    """The signer's organisation's transformation ``tid`` as recorded so far."""
    k = key(ctx, tid)
    return Joined(k, hub(ctx, tid), ctx.get(k) or {})
