"""ratings — the buyer rates a delivered order 1-5; satisfaction per platform, seller and
transporter (paper 000's customer satisfaction, Tables 1-3; the KPIs of DESIGN.md).

One rating per order, only by its buyer and only once the goods were delivered (a rating is
evidence about a delivery, so an order that never arrived cannot be rated — it can be
disputed). The score rates the seller and, if the order came through one, the platform;
``transporter_score`` (default: the same score) rates the transporter. A rating never
counts for a party of the buyer's own organisation (a platform buying through itself): that
would be self-assessment, not customer satisfaction. Running totals per party are kept in
state, so :func:`satisfaction` answers from one key, and projected into ``satisfaction``
with the average as a decimal string (no floats on the ledger). No free text is stored:
reviews could carry personal data, which never goes on the ledger.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._orders_model import ORDER_ID, load, org_of, party
from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, StateReader, method
from supplyledger.contracts.schema import Int
from supplyledger.errors import AlreadyExists, Forbidden, InvalidState, NotFound
from supplyledger.ledger.encoding import decode

__all__ = ["CONTRACT", "average", "satisfaction"]

PARTIES = ("seller", "transporter", "platform")


def _skey(role: str, did: str) -> str:
    return f"s/{role}/{did}"


def average(total: int, n: int) -> str:
    """total / n to two decimals, rounded half up, in integer arithmetic: "4.33"."""
    if n == 0:
        return ""
    centi = (total * 200 + n) // (2 * n)
    return f"{centi // 100}.{centi % 100:02d}"


@method(roles=ANY_PARTICIPANT, args={
    "order": ORDER_ID, "score": Int(min=1, max=5, doc="1 (bad) to 5 (excellent)"),
    "transporter_score": Int(optional=True, min=1, max=5, doc="default: score"),
}, errors=(NotFound, Forbidden, InvalidState, AlreadyExists))
def rate(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer: rate a delivered order once, for its seller, transporter and platform."""
    o = load(ctx, a["order"])
    party(ctx, o, "buyer")
    if o["delivered_at"] is None:
        raise InvalidState(f"order {o['id']} is {o['state']}: only a delivered order can be "
                           "rated", current=o["state"])
    if ctx.exists(f"r/{o['id']}"):
        raise AlreadyExists(f"order {o['id']} is already rated")
    scores = {"seller": a["score"], "platform": a["score"],
              "transporter": a.get("transporter_score", a["score"])}
    totals = []
    for role in PARTIES:
        did = o[role]
        if did is None or did == ctx.signer or (ctx.org is not None and
                                                org_of(ctx, did) == ctx.org):
            continue
        agg = ctx.get(_skey(role, did)) or {"n": 0, "total": 0}
        agg = {"n": agg["n"] + 1, "total": agg["total"] + scores[role]}
        ctx.put(_skey(role, did), agg)
        totals.append([role, did, agg["n"], agg["total"]])
    ctx.put(f"r/{o['id']}", {"buyer": ctx.signer, "score": a["score"],
                             "transporter_score": scores["transporter"], "at": ctx.time})
    ctx.emit("rated", order=o["id"], buyer=ctx.signer, seller=o["seller"],
             transporter=o["transporter"], platform=o["platform"], score=a["score"],
             transporter_score=scores["transporter"], totals=totals)
    return {"order": o["id"], "score": a["score"]}


def satisfaction(read: StateReader, role: str, did: str) -> dict[str, Any]:
    """Satisfaction of a seller, transporter or platform: number of ratings, average."""
    raw = read(f"ratings/{_skey(role, did)}")
    agg = {"n": 0, "total": 0} if raw is None else decode(raw)
    return {"role": role, "party": did, "ratings": agg["n"],
            "average": average(agg["total"], agg["n"])}


RATINGS = Table(
    "ratings",
    (("order_id", "TEXT"), ("buyer", "TEXT"), ("seller", "TEXT"), ("transporter", "TEXT"),
     ("platform", "TEXT"), ("score", "INTEGER"), ("transporter_score", "INTEGER"),
     ("time", "INTEGER"), ("tx", "TEXT")),
    ("order_id",), (("seller",), ("transporter",), ("platform",)))
SATISFACTION = Table(
    "satisfaction",
    (("role", "TEXT"), ("party", "TEXT"), ("ratings", "INTEGER"), ("total", "INTEGER"),
     ("average", "TEXT")),
    ("role", "party"))


def _rated(e: dict[str, Any], m: EventMeta) -> list[Op]:
    ops: list[Op] = [Upsert("ratings", (e["order"], e["buyer"], e["seller"], e["transporter"],
                                        e["platform"], e["score"], e["transporter_score"],
                                        m.time, m.tx))]
    for role, did, n, total in e["totals"]:
        ops.append(Upsert("satisfaction", (role, did, n, total, average(total, n))))
    return ops


CONTRACT = Contract.of("ratings", __doc__ or "", [rate], tables=(RATINGS, SATISFACTION),
                       projectors={"ratings.rated": _rated})
