"""custody — ownership and custody of batches as separate things, handed over by proposal.

The owner holds title; the custodian physically holds the goods (a warehouse or carrier),
as in Hyperledger Sawtooth Supply Chain's owner/custodian. A hand-over is a proposal from
the current holder to a registered participant, with free-form terms; the recipient accepts
or rejects it and the proposer may cancel it while it is open. Both histories are kept.

A batch's holding starts when the products contract creates it (see :func:`holding_key`);
trace reads it to decide who may record which link. The orders contract moves it too, and
reserves a batch it sells (:func:`reservation_key`, from placing a batch order or
dispatching a product order's lot until the order is completed, cancelled, returned or
resolved). While reserved, the batch's title is the buyer's money's collateral: its
ownership may not be offered (``ownership`` or ``both``), or the seller could give away what
the escrow pays for. Custody alone may still go to a warehouse or carrier, but not to the
order's buyer (nor its organisation) while a customs declaration of the order is not
cleared: that would be the delivery ``orders.deliver`` refuses until then. Whatever the
order's state, custody of a batch named by an open customs declaration goes only to a
carrier, warehouse or customs, never the declared buyer's side (``check_custody``, also at
``accept``: an offer may predate the declaration). An offer made
before the reservation cannot be accepted during it, because orders refuse to reserve a
batch with an open proposal; so ``accept`` need not check again.

Rules v2 (older ledgers after ``rules.adopt``): ``accept`` refuses an
offer whose proposer has been revoked since it was made (``invalid_state``, current
``lapsed``; the recipient rejects it), so what a revoked participant, or whoever held its
key, offered does not outlive the revocation; and custody offered to an order's buyer's
side before the order's customs declaration (or before its rejection) is refused at
``accept`` as at ``propose`` until the declaration is cleared. v1 accepted both.

Rules v3: what a revoked participant owns or holds is no longer
stuck. A hand-over needs its holder's signature, and a revoked participant signs nothing,
so a buyer revoked after its order settled (orders rules v3 give it the title) kept goods
nobody could move. A consortium admin now hands the rights a revoked participant holds of a
batch (title, custody or both) to a successor within its organisation
(``hand_over_goods``), as ``payments.hand_over_balance`` does with its money: an active
member, not only a machine key, so goods never leave the organisation on an admin's word.
Not while an order reserves the batch (title moves with the order), nor under another
holder's open offer; an open offer of the revoked holder itself lapses (``lapsed``).
Custody is handed over only as ``propose`` would allow it under a customs declaration.

Rules v4 (new ledgers start there) refuse before execution what needs no state to refuse
(``runtime`` admission checks): a proposal to oneself and a ``hand_over_goods`` to the
account itself or with a reason identity's rules for shown text refuse. Same error and
words, but the submitter gets them at once and no block records a failed transaction; v1
to v3 ledgers record it, as they did.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._customs_model import check_custody, customs_hold
from supplyledger.contracts.builtin._orders_model import okey, org_of
from supplyledger.contracts.builtin.identity import check_shown_text, participant_key
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, MACHINE_ROLES, Contract, Ctx, method
from supplyledger.contracts.schema import Enum, Obj, Str
from supplyledger.errors import Forbidden, InvalidState, NotFound, ValidationError

__all__ = ["CONTRACT", "SHOWN_TEXT", "hand_over_kind", "holding_key", "holds",
           "initial_holding", "initial_ops", "project_transfer", "reservation_key",
           "reserved_by"]

KINDS = ("custody", "ownership", "both")
# Free text shown to people, checked as identity's names are (the API refuses it unsigned).
SHOWN_TEXT = {"hand_over_goods": ("reason",)}


def holding_key(batch: str) -> str:
    """Key of a batch's holding in the custody namespace."""
    return f"h/{batch}"


def reservation_key(batch: str) -> str:
    """Key, in the orders namespace, of the id of the order that reserves a batch."""
    return f"lk/{batch}"


def reserved_by(ctx: Ctx, batch: str) -> str | None:
    """The order that reserves ``batch``, if any."""
    order = ctx.read("orders", reservation_key(batch))
    return None if order is None else str(order)


def holds(ctx: Ctx, h: dict[str, Any]) -> bool:
    """The signer, or its organisation, owns or has custody of holding ``h``."""
    org = ctx.org or ""
    return ctx.signer in (h["owner"], h["custodian"]) or (
        bool(org) and org in (h["owner_org"], h["custodian_org"]))


def initial_holding(did: str, org: str | None, time: int) -> dict[str, Any]:
    """The holding of a new batch: its creator owns and holds it."""
    return {"owner": did, "owner_org": org or "", "custodian": did, "custodian_org": org or "",
            "since": time, "open": ""}


def _holding(ctx: Ctx, batch: str) -> dict[str, Any]:
    h = ctx.get(holding_key(batch))
    if h is None:
        raise NotFound(f"no batch {batch}")
    return h  # type: ignore[no-any-return]


# From these rules on, the checks below that need no state refuse before execution.
ADMIT_RULES = 4


def _not_to_oneself(signer: str, to: str) -> None:
    if to == signer:
        raise InvalidState("a proposal to oneself changes nothing", current="held")


def _admit_propose(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    _not_to_oneself(signer, a["to"])


def _not_itself(account: str, to: str) -> None:
    if to == account:
        raise ValidationError(f"to is {account} itself: a hand-over goes to a successor",
                              arg="to")


def _admit_hand_over(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    """``hand_over_goods``'s checks that need no state, in its order: the reason, then the
    account itself as its successor."""
    check_shown_text(2, "reason", a["reason"])
    _not_itself(a["account"], a["to"])


@method(roles=ANY_PARTICIPANT, admit=(ADMIT_RULES, _admit_propose), args={
    "batch": Str(max_len=300, doc="batch id (canonical LGTIN)"),
    "to": Str(max_len=128, doc="participant id of the recipient"),
    "kind": Enum(values=KINDS, doc="what is handed over"),
    "terms": Obj(optional=True, doc="conditions of the hand-over (price, place, incoterm…)"),
}, errors=(NotFound, Forbidden, InvalidState))
def propose(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Offer custody and/or ownership of a batch; only its current holder of that right.
    Not its ownership while an order reserves it (``invalid_state``, current ``reserved``,
    naming the order): title moves with that order, or is free again when it ends. Nor
    its custody to the order's buyer's side while the order's customs declaration is not
    cleared (``invalid_state``, current: the declaration's state)."""
    batch, kind = args["batch"], args["kind"]
    h = _holding(ctx, batch)
    if kind in ("custody", "both") and h["custodian"] != ctx.signer:
        raise Forbidden(f"custody of {batch} is not held by {ctx.signer}")
    if kind in ("ownership", "both") and h["owner"] != ctx.signer:
        raise Forbidden(f"ownership of {batch} is not held by {ctx.signer}")
    if h["open"]:
        raise InvalidState(f"batch {batch} already has open proposal {h['open']}",
                           current="proposed")
    order = reserved_by(ctx, batch) if kind != "custody" else None
    if order is not None:
        raise InvalidState(f"batch {batch} is reserved by order {order}: its ownership "
                           "moves with that order and cannot be offered until it ends",
                           current="reserved", order=order)
    to = ctx.read("identity", participant_key(args["to"]))
    if to is None or to["status"] != "active":
        raise NotFound(f"no active participant {args['to']}")
    _not_to_oneself(ctx.signer, args["to"])
    if kind == "custody":
        _not_uncleared_to_buyer(ctx, batch, args["to"], to["org"])
    if kind in ("custody", "both"):
        check_custody(ctx, batch, args["to"], to)
    pid = ctx.tx_id[:32]
    prop = {"id": pid, "batch": batch, "kind": kind, "from": ctx.signer, "to": args["to"],
            "to_org": to["org"], "terms": args.get("terms", {}), "status": "open",
            "time": ctx.time}
    ctx.put(f"p/{pid}", prop)
    h["open"] = pid
    ctx.put(holding_key(batch), h)
    ctx.emit("proposed", id=pid, batch=batch, kind=kind, by=ctx.signer, to=args["to"])
    return {"proposal": pid}


def _not_uncleared_to_buyer(ctx: Ctx, batch: str, to: str, to_org: str) -> None:
    """Refuse handing the goods of an order under a customs declaration not cleared to the
    order's buyer or a member of its organisation."""
    order = reserved_by(ctx, batch)
    held = None if order is None else customs_hold(ctx, order)
    if order is None or held is None:
        return
    buyer = ctx.read("orders", okey(order))["buyer"]
    if to == buyer or (to_org and to_org == org_of(ctx, buyer)):
        raise InvalidState(f"batch {batch} of order {order} is under customs declaration "
                           f"{held[0]}, which is {held[1]}: it reaches the buyer once "
                           "cleared", current=held[1], declaration=held[0], order=order)


def _not_lapsed(ctx: Ctx, p: dict[str, Any]) -> None:
    """Refuse accepting an offer whose proposer is no longer an active participant: what a
    revoked participant (or whoever held its key) offered does not outlive it."""
    who = ctx.read("identity", participant_key(p["from"]))
    if who is None or who["status"] != "active":
        raise InvalidState(f"proposal {p['id']} lapsed: its proposer {p['from']} is "
                           f"{'unknown' if who is None else who['status']}; reject it",
                           current="lapsed", proposer=p["from"])


def _open(ctx: Ctx, pid: str) -> dict[str, Any]:
    p = ctx.get(f"p/{pid}")
    if p is None:
        raise NotFound(f"no proposal {pid}")
    if p["status"] != "open":
        raise InvalidState(f"proposal {pid} is {p['status']}", current=p["status"])
    return p  # type: ignore[no-any-return]


def _close(ctx: Ctx, p: dict[str, Any], status: str, reason: str = "") -> dict[str, Any]:
    p["status"] = status
    ctx.put(f"p/{p['id']}", p)
    h = _holding(ctx, p["batch"])
    h["open"] = ""
    ctx.put(holding_key(p["batch"]), h)
    ctx.emit("answered", id=p["id"], status=status, by=ctx.signer, reason=reason)
    return h


_PID = Str(min_len=32, max_len=32, pattern="[0-9a-f]{32}", doc="proposal id")


@method(roles=ANY_PARTICIPANT, args={"proposal": _PID},
        errors=(NotFound, Forbidden, InvalidState))
def accept(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Accept a hand-over: only its recipient. Custody/ownership move at once. Rules v2:
    not an offer whose proposer has been revoked since (``invalid_state``, current
    ``lapsed``: reject it), nor custody of an order's goods to its buyer's side while the
    order's customs declaration is not cleared (as ``propose``)."""
    p = _open(ctx, args["proposal"])
    if p["to"] != ctx.signer:
        raise Forbidden(f"proposal {p['id']} is addressed to {p['to']}, not {ctx.signer}")
    if ctx.version >= 2:
        _not_lapsed(ctx, p)
        if p["kind"] == "custody":  # the offer may predate the declaration, or its rejection
            _not_uncleared_to_buyer(ctx, p["batch"], p["to"], p["to_org"])
    if p["kind"] in ("custody", "both"):
        check_custody(ctx, p["batch"], p["to"], ctx.read("identity", participant_key(p["to"])))
    h = _close(ctx, p, "accepted")
    if p["kind"] in ("custody", "both"):
        h["custodian"], h["custodian_org"] = p["to"], p["to_org"]
    if p["kind"] in ("ownership", "both"):
        h["owner"], h["owner_org"] = p["to"], p["to_org"]
    h["since"] = ctx.time
    ctx.put(holding_key(p["batch"]), h)
    ctx.emit("transferred", batch=p["batch"], kind=p["kind"], proposal=p["id"],
             owner=h["owner"], owner_org=h["owner_org"], custodian=h["custodian"],
             custodian_org=h["custodian_org"], frm=p["from"], to=p["to"])
    return {"batch": p["batch"], "owner": h["owner"], "custodian": h["custodian"]}


@method(roles=ANY_PARTICIPANT, args={"proposal": _PID,
                                     "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState))
def reject(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Refuse a hand-over: only its recipient."""
    p = _open(ctx, args["proposal"])
    if p["to"] != ctx.signer:
        raise Forbidden(f"proposal {p['id']} is addressed to {p['to']}, not {ctx.signer}")
    _close(ctx, p, "rejected", args.get("reason", ""))
    return {"proposal": p["id"], "status": "rejected"}


@method(roles=ANY_PARTICIPANT, args={"proposal": _PID},
        errors=(NotFound, Forbidden, InvalidState))
def cancel(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Withdraw an open proposal: only its proposer."""
    p = _open(ctx, args["proposal"])
    if p["from"] != ctx.signer:
        raise Forbidden(f"proposal {p['id']} was made by {p['from']}, not {ctx.signer}")
    _close(ctx, p, "cancelled")
    return {"proposal": p["id"], "status": "cancelled"}


@method(roles="admin", args={
    "batch": Str(max_len=300, doc="batch id (canonical LGTIN)"),
    "account": Str(max_len=128, doc="the revoked participant that owns or holds it"),
    "to": Str(max_len=128, doc="the successor: an active member of the revoked "
              "participant's organisation (not only a machine key)"),
    "reason": Str(max_len=500, doc="why, shown to people (no control or bidi characters, "
                  "not only whitespace)"),
}, errors=(NotFound, Forbidden, InvalidState, ValidationError),
   admit=(ADMIT_RULES, _admit_hand_over))
def hand_over_goods(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Consortium admin (rules v3): hand what a revoked participant holds of a batch (its
    title, custody or both) to a successor within its organisation."""
    _rules_v3(ctx)
    check_shown_text(2, "reason", a["reason"])
    batch, account, to = a["batch"], a["account"], a["to"]
    h, kind, rec, p = _hand_over_checks(ctx, batch, account, to)
    if p is not None:
        h = _close(ctx, p, "lapsed", f"{account} was revoked; its goods were handed over")
    if kind in ("custody", "both"):
        h["custodian"], h["custodian_org"] = to, rec["org"]
    if kind in ("ownership", "both"):
        h["owner"], h["owner_org"] = to, rec["org"]
    h["since"] = ctx.time
    ctx.put(holding_key(batch), h)
    ctx.emit("handed_over", batch=batch, kind=kind, owner=h["owner"],
             owner_org=h["owner_org"], custodian=h["custodian"],
             custodian_org=h["custodian_org"], frm=account, to=to, reason=a["reason"],
             by=ctx.signer)
    return {"batch": batch, "kind": kind, "owner": h["owner"], "custodian": h["custodian"]}


def hand_over_kind(ctx: Ctx, batch: str, account: str, to: str | None = None) -> str:
    """What a consortium admin may hand over of ``batch`` for revoked ``account`` to ``to``
    ("ownership", "custody" or "both"), as :func:`hand_over_goods` decides, else its
    refusal. With ``to`` None, every check but those about the successor. (The web's row
    button and form ask it too; the reason is checked as any shown text is.)"""
    _rules_v3(ctx)
    return _hand_over_checks(ctx, batch, account, to)[1]


def _rules_v3(ctx: Ctx) -> None:
    if ctx.version < 3:
        raise InvalidState(f"handing over a revoked participant's goods is custody rules v3; "
                           f"this ledger runs v{ctx.version} (an admin adopts v3 with "
                           "rules.adopt)", current=f"rules v{ctx.version}")


def _hand_over_checks(ctx: Ctx, batch: str, account: str, to: str | None) -> tuple[
        dict[str, Any], str, dict[str, Any], dict[str, Any] | None]:
    """``hand_over_goods``'s checks, in its order (the first refusal is the one a receipt
    keeps): the holding, what ``account`` holds of it, the successor's record (``{}`` when
    ``to`` is None, its checks skipped) and the revoked holder's own open offer, which
    lapses."""
    h = _holding(ctx, batch)
    kind = _held_by_revoked(ctx, h, batch, account)
    rec = {} if to is None else _successor(ctx, account, to)
    order = reserved_by(ctx, batch) if kind != "custody" else None
    if order is not None:
        raise InvalidState(f"batch {batch} is reserved by order {order}: its title moves "
                           "with that order", current="reserved", order=order)
    if kind != "ownership" and to is not None:
        _not_uncleared_to_buyer(ctx, batch, to, rec["org"])
        check_custody(ctx, batch, to, rec)
    p = None
    if h["open"]:
        p = _open(ctx, h["open"])
        if p["from"] != account:
            raise InvalidState(f"batch {batch} has open proposal {p['id']} of {p['from']}: "
                               "it must be answered or cancelled first", current="proposed",
                               proposal=p["id"])
    return h, kind, rec, p


def _held_by_revoked(ctx: Ctx, h: dict[str, Any], batch: str, account: str) -> str:
    """What revoked participant ``account`` holds of the batch: ownership, custody or both."""
    p = ctx.read("identity", participant_key(account))
    if p is None:
        raise NotFound(f"no participant {account}", account=account)
    if p["status"] != "revoked":
        raise InvalidState(f"participant {account} is {p['status']}: it hands over its own "
                           "goods (propose); only a revoked participant's are handed over",
                           current=p["status"])
    owns, keeps = h["owner"] == account, h["custodian"] == account
    if not (owns or keeps):
        raise Forbidden(f"{account} neither owns nor holds batch {batch} (owner "
                        f"{h['owner']}, custodian {h['custodian']})", owner=h["owner"],
                        custodian=h["custodian"])
    return "both" if owns and keeps else "ownership" if owns else "custody"


def _successor(ctx: Ctx, account: str, to: str) -> dict[str, Any]:
    """The record of ``to``: an active member of ``account``'s organisation that acts for it
    (not only a machine key): an admin never moves goods to another organisation."""
    _not_itself(account, to)
    org = ctx.read("identity", participant_key(account))["org"]
    who = ctx.read("identity", participant_key(to))
    if who is None:
        raise NotFound(f"no participant {to}: the successor must exist", to=to)
    if who["status"] != "active":
        raise InvalidState(f"successor {to} is {who['status']}", current=who["status"], to=to)
    if who["org"] != org:
        raise Forbidden(f"{to} is not of organisation {org}, whose member {account} was: a "
                        "hand-over keeps the goods with that organisation", org=org, to=to)
    if set(who["roles"]) <= MACHINE_ROLES:
        raise Forbidden(f"{to} holds only the roles {', '.join(who['roles'])}: a machine "
                        "key does not hold its organisation's goods", org=org, to=to)
    return who  # type: ignore[no-any-return]


HOLDINGS = Table(
    "custody_holdings",
    (("batch", "TEXT"), ("owner", "TEXT"), ("owner_org", "TEXT"), ("custodian", "TEXT"),
     ("custodian_org", "TEXT"), ("since", "INTEGER"), ("tx", "TEXT")),
    ("batch",), (("custodian",), ("owner",)),
)
HISTORY = Table(
    "custody_history",
    (("batch", "TEXT"), ("tx", "TEXT"), ("kind", "TEXT"), ("frm", "TEXT"), ("to_", "TEXT"),
     ("height", "INTEGER"), ("time", "INTEGER")),
    ("batch", "tx"),
)
PROPOSALS = Table(
    "custody_proposals",
    (("id", "TEXT"), ("batch", "TEXT"), ("kind", "TEXT"), ("frm", "TEXT"), ("to_", "TEXT"),
     ("status", "TEXT"), ("reason", "TEXT"), ("time", "INTEGER"), ("tx", "TEXT")),
    ("id",), (("batch",),),
)


def initial_ops(batch: str, holding: dict[str, Any], m: EventMeta) -> list[Op]:
    """Rows for a batch's first holding (projected from the products contract's event)."""
    return [Upsert("custody_holdings", (batch, holding["owner"], holding["owner_org"],
                                        holding["custodian"], holding["custodian_org"],
                                        m.time, m.tx)),
            Upsert("custody_history", (batch, m.tx, "created", "", holding["owner"], m.height,
                                       m.time))]


def _proposed(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("custody_proposals", (e["id"], e["batch"], e["kind"], e["by"], e["to"],
                                         "open", "", m.time, m.tx))]


def _answered(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("custody_proposals", (e["id"],), (("status", e["status"]),
                                                     ("reason", e["reason"])))]


def project_transfer(e: dict[str, Any], m: EventMeta) -> list[Op]:
    """Holding and history rows for a transfer; the orders contract moves custody with
    the same event shape and reuses this projector."""
    return [Update("custody_holdings", (e["batch"],), (
                ("owner", e["owner"]), ("owner_org", e["owner_org"]),
                ("custodian", e["custodian"]), ("custodian_org", e["custodian_org"]),
                ("since", m.time), ("tx", m.tx))),
            Upsert("custody_history", (e["batch"], m.tx, e["kind"], e["frm"], e["to"],
                                       m.height, m.time))]


CONTRACT = Contract.of(
    "custody", __doc__ or "", [propose, accept, reject, cancel, hand_over_goods],
    tables=(HOLDINGS, HISTORY, PROPOSALS),
    projectors={"custody.proposed": _proposed, "custody.answered": _answered,
                "custody.transferred": project_transfer,
                "custody.handed_over": project_transfer},
    versions=(1, 2, 3, 4),
)
