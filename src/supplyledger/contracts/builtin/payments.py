"""payments — accounts per participant and currency, escrow, deposits and withdrawals
(paper 000 §3.4.2 point-to-point settlement; paper 001 Alg. 5 balance check; paper 004
multi-currency settlement).

Money is integer minor units of an ISO 4217 currency (``EUR`` 1999 = 19.99 EUR). Money
enters and leaves the ledger only through a ``settlement`` participant (the bank or payment
institution that holds the real funds): ``deposit`` credits an account after the bank has
received the money, ``withdraw`` debits it when the bank pays it out. Inside the ledger
money only moves, so per currency the sum of all balances and escrows always equals the
outstanding supply (deposits minus withdrawals), which is kept in state and checked by the
tests.

Rules v2 and later (new ledgers start at the newest; older ones after ``rules.adopt``): a
currency must be an ISO 4217 code with a minor unit (:data:`ISO_4217`); ``deposit`` and
``transfer`` refuse any other three letters with ``validation_error``, so no money exists
in a made-up currency (v1 took any three capitals; a balance so made can still be
withdrawn). The table is part of the rules: a change to it is a new rules version, or the
audit would decide old deposits differently.

Withdrawals under rules v2 pay out the holder's signed instruction, never a bank's say-so
(v1 let any settlement participant debit any account, the holder's instruction being checked
only off the ledger, so a bank, or its stolen key, could drain anyone):

* the holder signs ``instruct_withdrawal`` (id, amount, currency, and the ``bank`` to pay it
  out: a settlement participant, or an organisation any of whose settlement members may).
  A participant instructs from its own account; a member of an organisation from the
  organisation's account ``org:<org>`` (a customs authority's duties), unless it is only a
  machine key (:data:`MACHINE_ROLES`: a device signs readings, a node blocks). The amount
  is **reserved** at once: it moves into the escrow ``escrow:withdrawal:<id>``, so it cannot
  be spent twice, and the bank can pay against an open instruction without racing the
  holder. Any three capitals are accepted, so a v1 balance in a made-up code can still leave;
* that bank executes it with ``withdraw`` naming the instruction, **once**, paying at most
  the instructed amount (all of it by default). A partial pay-out closes the instruction
  too: the rest goes back to the holder's balance (another payment needs another
  instruction). The bank pays the real money once its ``withdraw`` is committed;
* until then the holder may ``cancel_withdrawal``: the reservation returns to its balance.

Refusals: a ``withdraw`` naming no instruction, or another bank's, is ``forbidden``; an
unknown one ``not_found``; a paid or cancelled one ``invalid_state``; more than instructed
``invalid_amount``; an ``account`` or ``currency`` that is not the instruction's
``validation_error``. Instructing from another's account is ``forbidden``, naming a bank
that is no settlement participant or organisation ``not_found``, an id in use
``already_exists``, more than the balance ``insufficient_funds``. A v1 ledger keeps v1's
``withdraw`` (account, currency, amount) and refuses the instruction methods with
``invalid_state`` until an admin adopts v2 (``rules.adopt``). Instructions are listed in
the ``withdrawals`` table.

Rules v3: an instruction stands only while whoever signed it could still give it. Once
its instructor is revoked (``identity.revoke``: a key lost or stolen, a member who left),
or, for an organisation's account, holds only machine roles (``identity.set_roles``), the
instruction has **lapsed**: ``withdraw`` refuses it with ``invalid_state`` (current
``lapsed``, details ``instructed_by``), as a bank stops a revoked signatory's standing
orders; what was paid out before stands. A lapsed instruction is cancelled like any
other, by the holder (an organisation's other members), or, since a revoked participant's
own account has nobody left to sign, by a consortium ``admin``, who may cancel a lapsed
instruction only, never a live one (``forbidden``): the reservation returns to the account,
so it never stays stuck in escrow. v2 ledgers keep paying such instructions until an admin
adopts v3.

Rules v3 also hand a revoked participant's money on: nobody can sign for its own account
any more, so the money would stay there for good. A consortium ``admin`` signs
``hand_over_balance``: all of the account's balance in a currency (by default in every ISO
4217 currency; a v1 balance in a made-up code is handed over by naming it) moves to a
successor **within the revoked participant's organisation**: the organisation's account
``org:<org>`` (its members instruct withdrawals from it), or an active member of it that
is more than a machine key (the same person registered again under a new key, say).
Never to another organisation's: admins manage membership, not whose money it is, so
neither an admin nor a stolen admin key can make one organisation's money another's by
revoking its member. The ``reason`` is shown to people (identity's rules for free text: no
control or bidi character, not only whitespace). Refusals, each changing nothing: an
active participant (current ``active``), or one with open withdrawal instructions
(current ``open_instructions``, details ``instructions``: cancel them first, which returns
their reservations to the balance handed over), ``invalid_state``; nothing to hand over
``invalid_state`` (current ``empty``); an unknown participant or successor ``not_found``; a
revoked successor ``invalid_state``; the account itself, or an organisation's account as
the one handed over, ``validation_error``; a successor of another organisation or holding
only machine roles ``forbidden``; a currency neither ISO 4217 nor ever deposited on this
ledger ``validation_error``. A participant's open instructions are indexed (``o/<did>``)
from v3 on; one given under v2, before the ledger adopted v3, is not, so cancelling it after
a hand-over returns its reservation to the revoked account, and another hand-over moves it
on, as it does money reaching that account later (an order's refund). A v2 ledger refuses
``hand_over_balance`` with ``invalid_state`` until an admin adopts v3.

Every amount is positive and at most ``MAX_AMOUNT`` (10**15 minor units); no balance, escrow
or supply may exceed it either. Python integers cannot overflow, but ledger integers must
stay inside the exact IEEE-754 range (2**53 - 1), so paper 001's "overflow" attack — an
amount past the maximum — is refused with ``invalid_amount`` before any state is touched.

Other commerce contracts (orders, credit) move money only through the helpers below
(:func:`debit`, :func:`credit`, :func:`hold`, :func:`pay_out`); they are the only code that
writes this namespace from outside, with ``ctx.put_other("payments", ...)``. Each move emits
a ``<contract>.money`` event that :func:`project_money` turns into ``balances`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supplyledger.contracts.builtin.identity import check_shown_text, participant_key
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, StateReader, method
from supplyledger.contracts.schema import Arg, Str
from supplyledger.errors import (
    AlreadyExists,
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.ledger.encoding import decode

__all__ = [
    "CONTRACT",
    "CURRENCY",
    "ISO_4217",
    "MACHINE_ROLES",
    "MAX_AMOUNT",
    "Amount",
    "balance",
    "credit",
    "debit",
    "escrow",
    "escrow_account",
    "escrow_key",
    "hold",
    "iso_currency",
    "pay_out",
    "project_money",
    "read_balance",
    "read_supply",
    "require_participant",
    "withdrawal_escrow",
]

NAME = "payments"
MAX_AMOUNT = 10**15
# The schema checks only the shape: it runs before ordering, where the rules version in
# force is unknown; the code itself is checked by each method under its rules (iso_currency).
CURRENCY = Str(min_len=3, max_len=3, pattern="[A-Z]{3}", doc="ISO 4217 code, e.g. EUR")
# ISO 4217 list one (2025): currencies and funds with a minor unit, plus codes withdrawn in
# changeovers since 2023 whose balances may still be settled (ANG BGN HRK SLL ZWL). Not
# precious metals, bond-market units, XDR, XSU, XUA, XTS (testing) or XXX (no currency):
# none is money counted in minor units. Frozen per rules version (see the docstring).
_ISO_4217 = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
XCG XOF XPF YER ZAR ZMW ZWG ZWL"""
ISO_4217 = frozenset(_ISO_4217.split())
EXTERNAL = "external"  # the other side of deposits and withdrawals (the bank's books)
# Keys that run on machines, often unattended: a member holding only these roles never acts
# for its organisation's money (a device signs readings, a node signs blocks).
MACHINE_ROLES = frozenset({"device", "node"})


@dataclass(frozen=True)
class Amount(Arg):
    """An integer of minor units from ``minimum`` (1 unless zero makes sense, e.g. freight)
    to ``MAX_AMOUNT``. Fails with ``invalid_amount`` (not a generic validation error) so the
    overflow and negative-amount attacks are recognisable in receipts."""

    minimum: int = 1

    def check(self, name: str, v: Any) -> Any:
        if type(v) is not int:
            raise AmountError(f"{name} must be an integer number of minor units", arg=name)
        if not self.minimum <= v <= MAX_AMOUNT:
            # Echo the value only while it is itself storable.
            shown = v if abs(v) <= MAX_AMOUNT else f"{v.bit_length()}-bit integer"
            raise AmountError(f"{name} must be between {self.minimum} and {MAX_AMOUNT} minor "
                              "units", arg=name, value=shown)
        return v

    def describe(self) -> str:
        return f"amount: integer minor units {self.minimum}..{MAX_AMOUNT}"


def iso_currency(ccy: str, arg: str = "currency") -> str:
    """``ccy`` if it is in :data:`ISO_4217`, else ValidationError naming ``arg``. Callers
    check it from their rules v2 on (a v1 ledger re-executes as it was decided)."""
    if ccy not in ISO_4217:
        raise ValidationError(f"{arg} {ccy} is not an ISO 4217 currency code", arg=arg,
                              value=ccy)
    return ccy


# -- keys (the one place they are spelled) ------------------------------------------------------

def _bkey(did: str, ccy: str) -> str:
    return f"b/{did}/{ccy}"


def escrow_key(escrow_id: str) -> str:
    return f"x/{escrow_id}"


def _skey(ccy: str) -> str:
    return f"s/{ccy}"


def _wkey(instruction: str) -> str:
    return f"w/{instruction}"


def _okey(account: str) -> str:
    return f"o/{account}"  # rules v3: the ids of a participant's open instructions


def withdrawal_escrow(instruction: str) -> str:
    """The escrow that reserves an instructed withdrawal until it is paid or cancelled."""
    return f"withdrawal:{instruction}"


def escrow_account(escrow_id: str) -> str:
    """How an escrow appears as an account in events and the ``balances`` table."""
    return f"escrow:{escrow_id}"


# -- helpers for cooperating contracts -----------------------------------------------------------

def require_participant(ctx: Ctx, did: str, *, role: str | None = None) -> dict[str, Any]:
    """The active participant ``did`` (with ``role`` if given), or NotFound."""
    p = ctx.read("identity", participant_key(did))
    if p is None or p["status"] != "active":
        raise NotFound(f"no active participant {did}")
    if role is not None and role not in p["roles"]:
        raise NotFound(f"{did} is not a registered {role}", role=role)
    return p  # type: ignore[no-any-return]


def balance(ctx: Ctx, did: str, ccy: str) -> int:
    v: int = ctx.read(NAME, _bkey(did, ccy)) or 0
    return v


def _bounded(value: int, what: str) -> int:
    if value > MAX_AMOUNT:
        raise AmountError(f"{what} would exceed {MAX_AMOUNT} minor units")
    return value


def _moved(ctx: Ctx, ccy: str, amount: int, src: str, src_bal: int | None, dst: str,
           dst_bal: int | None, why: str, **ref: str) -> None:
    ctx.emit("money", ccy=ccy, amount=amount, src=src, src_balance=src_bal, dst=dst,
             dst_balance=dst_bal, why=why, **ref)


def debit(ctx: Ctx, did: str, ccy: str, amount: int) -> int:
    """Take ``amount`` from ``did``'s balance (no event: callers emit one per move)."""
    have = balance(ctx, did, ccy)
    if have < amount:
        raise InsufficientFunds(f"{did} holds {have} {ccy}, needs {amount}", needed=amount,
                                available=have, currency=ccy)
    ctx.put_other(NAME, _bkey(did, ccy), have - amount)
    return have - amount


def credit(ctx: Ctx, did: str, ccy: str, amount: int) -> int:
    new = _bounded(balance(ctx, did, ccy) + amount, f"the balance of {did}")
    ctx.put_other(NAME, _bkey(did, ccy), new)
    return new


def transfer_between(ctx: Ctx, src: str, dst: str, ccy: str, amount: int, why: str) -> None:
    """Participant to participant (financing advances use this too)."""
    s = debit(ctx, src, ccy, amount)
    d = credit(ctx, dst, ccy, amount)
    _moved(ctx, ccy, amount, src, s, dst, d, why)


def escrow(ctx: Ctx, escrow_id: str) -> dict[str, Any] | None:
    return ctx.read(NAME, escrow_key(escrow_id))  # type: ignore[no-any-return]


def hold(ctx: Ctx, escrow_id: str, payer: str, ccy: str, amount: int, why: str) -> None:
    """Move ``amount`` from ``payer`` into a new escrow (InsufficientFunds if it can't)."""
    if escrow(ctx, escrow_id) is not None:
        raise InvalidState(f"escrow {escrow_id} already exists", current="held")
    left = debit(ctx, payer, ccy, amount)
    ctx.put_other(NAME, escrow_key(escrow_id), {"ccy": ccy, "amount": amount, "payer": payer})
    _moved(ctx, ccy, amount, payer, left, escrow_account(escrow_id), amount, why)


def pay_out(ctx: Ctx, escrow_id: str, payee: str, amount: int, why: str) -> None:
    """Pay ``amount`` (may be 0: nothing happens) from an escrow; never more than it holds,
    so no path can pay twice. An emptied escrow stays, at 0, as the record that it was."""
    if amount == 0:
        return
    x = escrow(ctx, escrow_id)
    if x is None or x["amount"] < amount or amount < 0:
        held = 0 if x is None else x["amount"]
        raise InvalidState(f"escrow {escrow_id} holds {held}, cannot pay {amount}",
                           current="empty" if x is None else "held")
    x["amount"] -= amount
    ctx.put_other(NAME, escrow_key(escrow_id), x)
    d = credit(ctx, payee, x["ccy"], amount)
    _moved(ctx, x["ccy"], amount, escrow_account(escrow_id), x["amount"], payee, d, why)


# -- methods ------------------------------------------------------------------------------------

_ACCOUNT = Str(max_len=128, doc="participant id (did:sl:…)")
_REF = Str(max_len=128, optional=True, doc="the bank's reference for the real payment")


@method(roles="settlement", args={"account": _ACCOUNT, "currency": CURRENCY,
                                  "amount": Amount(), "reference": _REF},
        errors=(AmountError, NotFound, ValidationError))
def deposit(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Credit an account with money the settlement institution has received."""
    if ctx.version >= 2:
        iso_currency(args["currency"])
    require_participant(ctx, args["account"])
    ccy, amount = args["currency"], args["amount"]
    supply = _bounded((ctx.get(_skey(ccy)) or 0) + amount, f"the {ccy} supply")
    new = credit(ctx, args["account"], ccy, amount)
    ctx.put(_skey(ccy), supply)
    _moved(ctx, ccy, amount, EXTERNAL, None, args["account"], new, "deposit",
           ref=args.get("reference", ""))
    return {"account": args["account"], "currency": ccy, "balance": new}


_INSTRUCTION = Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}",
                   doc="withdrawal instruction id, chosen by the holder (unique)")


@method(roles="settlement", args={
    "account": Str(max_len=128, optional=True,
                   doc="v1: the account to debit; v2: if given, must be the instruction's"),
    "currency": Str(min_len=3, max_len=3, pattern="[A-Z]{3}", optional=True,
                    doc="v1: ISO 4217 code; v2: if given, must be the instruction's"),
    "amount": Amount(optional=True, doc="v1: required; v2: at most the instructed amount "
                     "(default: all of it)"),
    "reference": _REF,
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
    ctx.put(_skey(ccy), (ctx.get(_skey(ccy)) or 0) - amount)
    _moved(ctx, ccy, amount, args["account"], new, EXTERNAL, None, "withdrawal",
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
    ctx.put(_skey(ccy), (ctx.get(_skey(ccy)) or 0) - amount)
    ref = args.get("reference", "")
    _moved(ctx, ccy, amount, escrow_account(eid), x["amount"], EXTERNAL, None, "withdrawal",
           ref=ref)
    rest = instructed - amount
    pay_out(ctx, eid, w["account"], rest, "withdrawal remainder")
    w.update(state="paid", paid=amount, paid_by=ctx.signer, paid_at=ctx.time, paid_ref=ref)
    ctx.put(_wkey(iid), w)
    _index_open(ctx, w["account"], iid, is_open=False)
    ctx.emit("withdrawal_paid", id=iid, account=w["account"], currency=ccy, amount=amount,
             returned=rest, by=ctx.signer, ref=ref)
    return {"instruction": iid, "account": w["account"], "currency": ccy, "amount": amount,
            "returned": rest, "balance": balance(ctx, w["account"], ccy)}


def _instruction(ctx: Ctx, iid: str) -> dict[str, Any]:
    w = ctx.get(_wkey(iid))
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
    ids = ctx.get(_okey(account)) or []
    new = sorted({*ids, iid} if is_open else set(ids) - {iid})
    if new and new != ids:
        ctx.put(_okey(account), new)
    elif ids and not new:
        ctx.delete(_okey(account))


def _may_instruct(did: str, org: str | None, roles: frozenset[str], account: str) -> bool:
    """Whether participant ``did`` (of ``org``, holding ``roles``) instructs for
    ``account``: its own, or its organisation's (``org:<org>``) if it is more than a
    machine key (MACHINE_ROLES)."""
    return account == did or (org is not None and account == f"org:{org}"
                              and not roles <= MACHINE_ROLES)


def _lapsed(ctx: Ctx, w: dict[str, Any]) -> str | None:
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
    why = _lapsed(ctx, w)
    if why is not None:
        raise InvalidState(f"withdrawal instruction {w['id']} lapsed: {why}; it is not paid "
                           f"out. Cancelling it (the holder's other members, or a consortium "
                           f"admin) returns the reservation to {w['account']}",
                           current="lapsed", instructed_by=w["by"])


def _admin_cancels(ctx: Ctx, w: dict[str, Any]) -> None:
    """Rules v3: a consortium admin, not the holder, cancels only a lapsed instruction
    (that of a revoked participant's own account has nobody else to cancel it); a live
    one is its holder's business."""
    if w["state"] == "open" and _lapsed(ctx, w) is None:
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
    if ctx.exists(_wkey(iid)):
        raise AlreadyExists(f"withdrawal instruction {iid} already exists")
    hold(ctx, withdrawal_escrow(iid), account, ccy, amount, "withdrawal instruction")
    w = {"id": iid, "account": account, "currency": ccy, "amount": amount, "bank": a["bank"],
         "reference": a.get("reference", ""), "state": "open", "by": ctx.signer,
         "at": ctx.time, "paid": 0}
    ctx.put(_wkey(iid), w)
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
    revoked, or left with only machine roles for an organisation's account)."""
    _needs_v2(ctx)
    iid = a["instruction"]
    w = _instruction(ctx, iid)
    if (ctx.version >= 3 and "admin" in ctx.roles
            and not _may_instruct(ctx.signer, ctx.org, ctx.roles, w["account"])):
        _admin_cancels(ctx, w)
    else:
        _holder(ctx, w["account"])
    if w["state"] != "open":
        raise InvalidState(f"withdrawal instruction {iid} is {w['state']}: only an open one "
                           "can be cancelled", current=w["state"])
    pay_out(ctx, withdrawal_escrow(iid), w["account"], w["amount"], "withdrawal cancelled")
    w.update(state="cancelled", cancelled_at=ctx.time)
    ctx.put(_wkey(iid), w)
    _index_open(ctx, w["account"], iid, is_open=False)
    ctx.emit("withdrawal_cancelled", id=iid, account=w["account"], by=ctx.signer,
             reason=a.get("reason", ""))
    return {"instruction": iid, "state": "cancelled",
            "balance": balance(ctx, w["account"], w["currency"])}


@method(roles=ANY_PARTICIPANT, args={"to": _ACCOUNT, "currency": CURRENCY, "amount": Amount(),
                                     "memo": Str(max_len=200, optional=True)},
        errors=(AmountError, InsufficientFunds, NotFound, Forbidden, ValidationError))
def transfer(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Pay another participant from the signer's own balance."""
    if ctx.version >= 2:
        iso_currency(args["currency"])
    if args["to"] == ctx.signer:
        raise Forbidden("a transfer to oneself moves nothing")
    require_participant(ctx, args["to"])
    transfer_between(ctx, ctx.signer, args["to"], args["currency"], args["amount"], "transfer")
    return {"from": ctx.signer, "to": args["to"], "amount": args["amount"]}


# -- a revoked participant's money (rules v3) ----------------------------------------------------

def _needs_v3(ctx: Ctx) -> None:
    if ctx.version < 3:
        raise InvalidState(f"handing over a revoked participant's balance is payments rules "
                           f"v3; this ledger runs v{ctx.version} (an admin adopts v3 with "
                           "rules.adopt)", current=f"rules v{ctx.version}")


def _revoked_holder(ctx: Ctx, account: str) -> dict[str, Any]:
    """The revoked participant whose own account ``account`` is."""
    if account.startswith("org:"):
        raise ValidationError(f"{account} is an organisation's account, which its members "
                              "instruct for: only a revoked participant's own balance is "
                              "handed over", arg="account")
    p = ctx.read("identity", participant_key(account))
    if p is None:
        raise NotFound(f"no participant {account}", account=account)
    if p["status"] != "revoked":
        raise InvalidState(f"participant {account} is {p['status']}: it moves its own money "
                           "(transfer, instruct_withdrawal); only a revoked participant's "
                           "balance is handed over", current=p["status"])
    return p  # type: ignore[no-any-return]


def _check_successor(ctx: Ctx, holder: dict[str, Any], to: str) -> None:
    """``to`` exists, is active, and belongs to ``holder``'s organisation (see the
    docstring: an admin never moves one organisation's money to another)."""
    account, org = holder["did"], holder["org"]
    if to == account:
        raise ValidationError(f"to is {account} itself: a hand-over goes to a successor",
                              arg="to")
    is_org = to.startswith("org:")
    who = ctx.read("identity", f"o/{to[4:]}" if is_org else participant_key(to))
    if who is None:
        raise NotFound(f"no {'organisation' if is_org else 'participant'} "
                       f"{to.removeprefix('org:')}: the successor must exist", to=to)
    if who["status"] != "active":
        raise InvalidState(f"successor {to} is {who['status']}", current=who["status"],
                           to=to)
    if (to[4:] if is_org else who["org"]) != org:
        raise Forbidden(f"{to} is not of organisation {org}, whose member {account} was: a "
                        f"hand-over keeps the money with that organisation (org:{org}, or "
                        "an active member of it)", org=org, to=to)
    if not is_org and set(who["roles"]) <= MACHINE_ROLES:
        raise Forbidden(f"{to} holds only the roles {', '.join(who['roles'])}: a machine "
                        "key never holds its organisation's money; hand it to "
                        f"org:{org} or a member who acts for it", org=org, to=to)


def _known_currency(ctx: Ctx, ccy: str) -> str:
    """ISO 4217, or a v1 code money was once deposited in (``s/<ccy>`` exists)."""
    if ccy not in ISO_4217 and not ctx.exists(_skey(ccy)):
        raise ValidationError(f"currency {ccy} is not an ISO 4217 code, and no money in it "
                              "was ever deposited on this ledger", arg="currency", value=ccy)
    return ccy


@method(roles="admin", args={
    "account": Str(max_len=128, doc="the revoked participant's id (did:sl:…)"),
    "to": Str(max_len=128, doc="the successor: org:<org> of the revoked participant's "
              "organisation, or an active member of it (not only a machine key)"),
    "currency": Str(min_len=3, max_len=3, pattern="[A-Z]{3}", optional=True,
                    doc="default: every ISO 4217 currency it holds"),
    "reason": Str(max_len=500, doc="why, shown to people (no control or bidi characters, "
                  "not only whitespace)"),
}, errors=(InvalidState, NotFound, Forbidden, ValidationError, AmountError))
def hand_over_balance(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Consortium admin (rules v3): move all of a revoked participant's balance (in
    ``currency``, or in every ISO 4217 currency) to a successor within its organisation,
    once no withdrawal instruction of its account is open (cancel those first)."""
    _needs_v3(ctx)
    check_shown_text(ctx.version, "reason", a["reason"])  # payments v3 implies identity v2's
    account, to = a["account"], a["to"]
    holder = _revoked_holder(ctx, account)
    ccys = [_known_currency(ctx, a["currency"])] if "currency" in a else sorted(ISO_4217)
    _check_successor(ctx, holder, to)
    open_ids = ctx.get(_okey(account)) or []
    if open_ids:
        raise InvalidState(f"{account} still has open withdrawal instructions "
                           f"{', '.join(open_ids)}: cancel them first (cancel_withdrawal, "
                           "which a consortium admin may, as they have lapsed); their "
                           "reservations return to the balance to hand over",
                           current="open_instructions", instructions=open_ids)
    amounts = {c: v for c in ccys if (v := balance(ctx, account, c)) > 0}
    if not amounts:
        held = f"in {ccys[0]}" if len(ccys) == 1 else "in any ISO 4217 currency"
        raise InvalidState(f"{account} holds nothing {held} to hand over", current="empty")
    for ccy, amount in amounts.items():
        left = debit(ctx, account, ccy, amount)
        new = credit(ctx, to, ccy, amount)
        _moved(ctx, ccy, amount, account, left, to, new, "hand-over")
    ctx.emit("balance_handed_over", account=account, to=to, amounts=amounts,
             reason=a["reason"], by=ctx.signer)
    return {"account": account, "to": to, "handed_over": amounts}


# -- queries (over committed state, for the node, API and tests) ---------------------------------

def read_balance(read: StateReader, did: str, ccy: str) -> int:
    raw = read(f"{NAME}/{_bkey(did, ccy)}")
    return 0 if raw is None else int(decode(raw))


def read_supply(read: StateReader, ccy: str) -> int:
    raw = read(f"{NAME}/{_skey(ccy)}")
    return 0 if raw is None else int(decode(raw))


# -- projection ---------------------------------------------------------------------------------

BALANCES = Table(
    "balances",
    (("account", "TEXT"), ("currency", "TEXT"), ("kind", "TEXT"), ("balance", "INTEGER"),
     ("updated", "INTEGER"), ("tx", "TEXT")),
    ("account", "currency"),
    (("kind", "currency"),),
)


def project_money(e: dict[str, Any], m: EventMeta) -> list[Op]:
    """``<contract>.money`` -> the new balances of both sides (external has none)."""
    ops: list[Op] = []
    for acct, bal in ((e["src"], e["src_balance"]), (e["dst"], e["dst_balance"])):
        if bal is not None:
            kind = ("escrow" if acct.startswith("escrow:") else
                    "organisation" if acct.startswith("org:") else "participant")
            ops.append(Upsert("balances", (acct, e["ccy"], kind, bal, m.time, m.tx)))
    return ops


WITHDRAWALS = Table(
    "withdrawals",
    (("id", "TEXT"), ("account", "TEXT"), ("currency", "TEXT"), ("amount", "INTEGER"),
     ("bank", "TEXT"), ("reference", "TEXT"), ("state", "TEXT"), ("paid", "INTEGER"),
     ("time", "INTEGER"), ("tx", "TEXT"), ("settled_tx", "TEXT")),
    ("id",),
    (("account",), ("bank", "state")),
)


def _instructed(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("withdrawals", (e["id"], e["account"], e["currency"], e["amount"],
                                   e["bank"], e["reference"], "open", 0, m.time, m.tx, None))]


def _withdrawn(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("withdrawals", (e["id"],), (("state", "paid"), ("paid", e["amount"]),
                                               ("settled_tx", m.tx)))]


def _cancelled(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("withdrawals", (e["id"],), (("state", "cancelled"), ("settled_tx", m.tx)))]


CONTRACT = Contract.of("payments", __doc__ or "",
                       [deposit, withdraw, transfer, instruct_withdrawal, cancel_withdrawal,
                        hand_over_balance],
                       tables=(BALANCES, WITHDRAWALS),
                       projectors={"payments.money": project_money,
                                   "payments.withdrawal_instructed": _instructed,
                                   "payments.withdrawal_paid": _withdrawn,
                                   "payments.withdrawal_cancelled": _cancelled},
                       versions=(1, 2, 3))
