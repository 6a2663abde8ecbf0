"""Withdrawals of the ``payments`` contract: the holder's signed instruction, the bank's
pay-out of it, cancellation, and (rules v3) instructions that lapse with their instructor.
The rules are described in the contract's docstring (:mod:`.payments`)."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._payments_model import (
    CURRENCY,
    EXTERNAL,
    MACHINE_ROLES,
    REFERENCE,
    Amount,
    balance,
    debit,
    escrow,
    escrow_account,
    escrow_key,
    hold,
    moved,
    open_key,
    pay_out,
    supply_key,
    withdrawal_escrow,
    withdrawal_key,
)
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Ctx, method
from supplyledger.contracts.schema import Str
from supplyledger.errors import (
    AlreadyExists,
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
)

__all__ = ["cancel_withdrawal", "instruct_withdrawal", "lapsed", "withdraw"]

_INSTRUCTION = Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}",
                   doc="withdrawal instruction id, chosen by the holder (unique)")


@method(roles="settlement", args={
    "account": Str(max_len=128, optional=True,
                   doc="v1: the account to debit; v2: if given, must be the instruction's"),
    "currency": Str(min_len=3, max_len=3, pattern="[A-Z]{3}", optional=True,
                    doc="v1: ISO 4217 code; v2: if given, must be the instruction's"),
    "amount": Amount(optional=True, doc="v1: required; v2: at most the instructed amount "
                     "(default: all of it)"),
    "reference": REFERENCE,
    "instruction": Str(max_len=64, optional=True,
                       doc="v2 (required): the holder's withdrawal instruction to pay out"),
}, errors=(AmountError, InsufficientFunds, Forbidden, NotFound, InvalidState,
           ValidationError))
def withdraw(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Debit an account the settlement institution pays out. Rules v2: only by executing
    the holder's withdrawal instruction (``instruct_withdrawal``) that names this bank or
    its organisation, once, for at most the instructed amount (the rest returns to the
    holder). Rules v3: not a lapsed instruction, whose instructor has been revoked (or, for
    an organisation's account, holds only machine roles) since (``invalid_state``, current
    ``lapsed``). Rules v1: any account, on an instruction checked off the ledger."""
    if ctx.version >= 2:
        return _execute(ctx, args)
    _v1_args(args)
    ccy, amount = args["currency"], args["amount"]
    new = debit(ctx, args["account"], ccy, amount)
    ctx.put(supply_key(ccy), (ctx.get(supply_key(ccy)) or 0) - amount)
    moved(ctx, ccy, amount, args["account"], new, EXTERNAL, None, "withdrawal",
           ref=args.get("reference", ""))
    return {"account": args["account"], "currency": ccy, "balance": new}


def _v1_args(args: dict[str, Any]) -> None:
    """v1's schema, which v2's (an instruction instead) had to widen: the same refusals."""
    if "instruction" in args:
        raise ValidationError("unexpected argument instruction", arg="instruction")
    for key in ("account", "currency", "amount"):
        if key not in args:
            raise ValidationError(f"missing argument {key}", arg=key)


def _execute(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    iid = args.get("instruction")
    if iid is None:
        raise Forbidden("under payments rules v2 a settlement participant pays out only a "
                        "holder's withdrawal instruction: name it (instruction); the holder "
                        "gives it with payments.instruct_withdrawal", arg="instruction")
    w = _instruction(ctx, iid)
    if ctx.signer != w["bank"] and ctx.org != w["bank"]:
        raise Forbidden(f"withdrawal instruction {iid} is to be paid out by {w['bank']}, "
                        f"not {ctx.signer}", bank=w["bank"])
    if w["state"] != "open":
        raise InvalidState(f"withdrawal instruction {iid} is {w['state']}: an instruction "
                           "is paid out once", current=w["state"])
    if ctx.version >= 3:
        _not_lapsed(ctx, w)
    for key in ("account", "currency"):
        if key in args and args[key] != w[key]:
            raise ValidationError(f"{key} {args[key]} is not that of withdrawal instruction "
                                  f"{iid} ({w[key]})", arg=key)
    ccy, instructed = w["currency"], w["amount"]
    amount = args.get("amount", instructed)
    if amount > instructed:
        raise AmountError(f"withdrawal instruction {iid} allows at most {instructed} {ccy}",
                          arg="amount", instructed=instructed)
    eid = withdrawal_escrow(iid)
    x = escrow(ctx, eid)
    if x is None or x["amount"] != instructed:  # reserved when instructed: only a damaged state
        raise InvalidState(f"withdrawal instruction {iid} has lost its reservation",
                           current=w["state"])
    x["amount"] -= amount
    ctx.put(escrow_key(eid), x)
    ctx.put(supply_key(ccy), (ctx.get(supply_key(ccy)) or 0) - amount)
    ref = args.get("reference", "")
    moved(ctx, ccy, amount, escrow_account(eid), x["amount"], EXTERNAL, None, "withdrawal",
           ref=ref)
    rest = instructed - amount
    pay_out(ctx, eid, w["account"], rest, "withdrawal remainder")
    w.update(state="paid", paid=amount, paid_by=ctx.signer, paid_at=ctx.time, paid_ref=ref)
    ctx.put(withdrawal_key(iid), w)
    _index_open(ctx, w["account"], iid, is_open=False)
    ctx.emit("withdrawal_paid", id=iid, account=w["account"], currency=ccy, amount=amount,
             returned=rest, by=ctx.signer, ref=ref)
    return {"instruction": iid, "account": w["account"], "currency": ccy, "amount": amount,
            "returned": rest, "balance": balance(ctx, w["account"], ccy)}


def _instruction(ctx: Ctx, iid: str) -> dict[str, Any]:
    w = ctx.get(withdrawal_key(iid))
    if w is None:
        raise NotFound(f"no withdrawal instruction {iid}")
    return w  # type: ignore[no-any-return]


def _needs_v2(ctx: Ctx) -> None:
    if ctx.version < 2:
        raise InvalidState(f"withdrawal instructions are payments rules v2; this ledger runs "
                           f"v{ctx.version}, where the bank's withdraw needs none (an admin "
                           "adopts v2 with rules.adopt)", current=f"rules v{ctx.version}")


def _index_open(ctx: Ctx, account: str, iid: str, *, is_open: bool) -> None:
    """Rules v3: keep ``o/<account>``, the ids of a participant's open instructions, which
    ``hand_over_balance`` reads (state has no scan; an organisation's account is never
    handed over). v2 writes none: its blocks re-execute as decided, so an instruction
    given before v3 was adopted is not listed."""
    if ctx.version < 3 or account.startswith("org:"):
        return
    ids = ctx.get(open_key(account)) or []
    new = sorted({*ids, iid} if is_open else set(ids) - {iid})
    if new and new != ids:
        ctx.put(open_key(account), new)
    elif ids and not new:
        ctx.delete(open_key(account))


def _may_instruct(did: str, org: str | None, roles: frozenset[str], account: str) -> bool:
    """Whether participant ``did`` (of ``org``, holding ``roles``) instructs for
    ``account``: its own, or its organisation's (``org:<org>``) if it is more than a
    machine key (MACHINE_ROLES)."""
    return account == did or (org is not None and account == f"org:{org}"
                              and not roles <= MACHINE_ROLES)


def lapsed(ctx: Ctx, w: dict[str, Any]) -> str | None:
    """Why open instruction ``w`` no longer stands (rules v3), or None: whoever signed it
    could not give it now, being revoked or, for an organisation's account, left with only
    machine roles."""
    p = ctx.read("identity", participant_key(w["by"]))
    if p is None or p["status"] != "active":
        return f"{w['by']}, who instructed it, is {'unknown' if p is None else p['status']}"
    if not _may_instruct(p["did"], p["org"], frozenset(p["roles"]), w["account"]):
        return (f"{w['by']}, who instructed it, now holds only the roles "
                f"{', '.join(p['roles'])} and no longer instructs for {w['account']}")
    return None


def _not_lapsed(ctx: Ctx, w: dict[str, Any]) -> None:
    """Refuse paying out a lapsed instruction (rules v3): a revoked party's standing
    orders are not paid, whoever holds its key now."""
    why = lapsed(ctx, w)
    if why is not None:
        raise InvalidState(f"withdrawal instruction {w['id']} lapsed: {why}; it is not paid "
                           f"out. Cancelling it (the holder's other members, or a consortium "
                           f"admin) returns the reservation to {w['account']}",
                           current="lapsed", instructed_by=w["by"])


def _admin_cancels(ctx: Ctx, w: dict[str, Any]) -> None:
    """Rules v3: a consortium admin, not the holder, cancels only a lapsed instruction
    (that of a revoked participant's own account has nobody else to cancel it); a live
    one is its holder's business."""
    if w["state"] == "open" and lapsed(ctx, w) is None:
        raise Forbidden(f"withdrawal instruction {w['id']} has not lapsed: {w['by']}, who "
                        f"instructed it, still may, so only the holder of {w['account']} "
                        "cancels it (a consortium admin cancels only lapsed ones)",
                        account=w["account"])


def _holder(ctx: Ctx, account: str) -> None:
    """Forbidden unless the signer may instruct for ``account`` (:func:`_may_instruct`)."""
    if _may_instruct(ctx.signer, ctx.org, ctx.roles, account):
        return
    mine = ctx.signer if ctx.org is None else f"{ctx.signer} or org:{ctx.org}"
    raise Forbidden(f"only the holder instructs a withdrawal from {account}: "
                    f"{ctx.signer} may only from {mine}", account=account)


def _canceller(ctx: Ctx, w: dict[str, Any]) -> None:
    """Forbidden unless the signer may cancel instruction ``w`` as its holder: rules v4 say
    who may cancel it; v2 and v3 answer with the words for instructing (receipts keep
    them). (A consortium admin's own case is :func:`_admin_cancels`.)"""
    if ctx.version < 4:
        _holder(ctx, w["account"])
        return
    account = w["account"]
    if _may_instruct(ctx.signer, ctx.org, ctx.roles, account):
        return
    who = (f"a member of organisation {account[4:]} that is more than a machine key"
           if account.startswith("org:") else f"its holder {account}")
    raise Forbidden(f"withdrawal instruction {w['id']} of {account} is cancelled by {who}, "
                    f"or by a consortium admin once it has lapsed: {ctx.signer} is neither",
                    account=account, instruction=w["id"])


def _check_bank(ctx: Ctx, bank: str) -> None:
    """NotFound unless ``bank`` is an active settlement participant or an organisation
    whose members may hold the settlement role."""
    who = ctx.read("identity", participant_key(bank) if bank.startswith("did:") else
                   f"o/{bank}")
    if who is None or who["status"] != "active" or "settlement" not in who["roles"]:
        raise NotFound(f"{bank} is neither an active settlement participant nor an "
                       "organisation of settlement participants", bank=bank)


@method(roles=ANY_PARTICIPANT, args={
    "id": _INSTRUCTION, "currency": CURRENCY, "amount": Amount(doc="reserved at once"),
    "bank": Str(max_len=128, doc="who pays it out: a settlement participant's id, or an "
                "organisation id (any of its settlement members)"),
    "account": Str(max_len=128, optional=True, doc="default: the signer's own; or org:<org> "
                   "of the signer's organisation"),
    "reference": Str(max_len=128, optional=True,
                     doc="the holder's reference for the payment (no personal data)"),
}, errors=(InvalidState, Forbidden, NotFound, AlreadyExists, InsufficientFunds, AmountError))
def instruct_withdrawal(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Holder (rules v2): instruct a bank to pay out ``amount`` from its account; the amount
    is reserved until the bank pays it (``withdraw``) or the holder cancels it."""
    _needs_v2(ctx)
    iid, ccy, amount = a["id"], a["currency"], a["amount"]
    account = a.get("account", ctx.signer)
    _holder(ctx, account)
    _check_bank(ctx, a["bank"])
    if ctx.exists(withdrawal_key(iid)):
        raise AlreadyExists(f"withdrawal instruction {iid} already exists")
    hold(ctx, withdrawal_escrow(iid), account, ccy, amount, "withdrawal instruction")
    w = {"id": iid, "account": account, "currency": ccy, "amount": amount, "bank": a["bank"],
         "reference": a.get("reference", ""), "state": "open", "by": ctx.signer,
         "at": ctx.time, "paid": 0}
    ctx.put(withdrawal_key(iid), w)
    _index_open(ctx, account, iid, is_open=True)
    ctx.emit("withdrawal_instructed", id=iid, account=account, currency=ccy, amount=amount,
             bank=a["bank"], reference=w["reference"], by=ctx.signer)
    return {"instruction": iid, "state": "open", "reserved": amount,
            "balance": balance(ctx, account, ccy)}


@method(roles=ANY_PARTICIPANT, args={"instruction": _INSTRUCTION,
                                     "reason": Str(max_len=500, optional=True)},
        errors=(InvalidState, Forbidden, NotFound))
def cancel_withdrawal(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Holder (rules v2): cancel an instruction not yet paid out; the reservation returns to
    the account. (A bank pays the real money only once its ``withdraw`` is committed.)
    Rules v3: a consortium admin too, but only a lapsed instruction (its instructor
    revoked, or left with only machine roles for an organisation's account). Rules v4: a
    refusal says who may cancel."""
    _needs_v2(ctx)
    iid = a["instruction"]
    w = _instruction(ctx, iid)
    if (ctx.version >= 3 and "admin" in ctx.roles
            and not _may_instruct(ctx.signer, ctx.org, ctx.roles, w["account"])):
        _admin_cancels(ctx, w)
    else:
        _canceller(ctx, w)
    if w["state"] != "open":
        raise InvalidState(f"withdrawal instruction {iid} is {w['state']}: only an open one "
                           "can be cancelled", current=w["state"])
    pay_out(ctx, withdrawal_escrow(iid), w["account"], w["amount"], "withdrawal cancelled")
    w.update(state="cancelled", cancelled_at=ctx.time)
    ctx.put(withdrawal_key(iid), w)
    _index_open(ctx, w["account"], iid, is_open=False)
    ctx.emit("withdrawal_cancelled", id=iid, account=w["account"], by=ctx.signer,
             reason=a.get("reason", ""))
    return {"instruction": iid, "state": "cancelled",
            "balance": balance(ctx, w["account"], w["currency"])}
