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

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, StateReader, method
from supplyledger.contracts.schema import Arg, Str
from supplyledger.errors import (
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
)
from supplyledger.ledger.encoding import decode

__all__ = [
    "CONTRACT",
    "CURRENCY",
    "MAX_AMOUNT",
    "Amount",
    "balance",
    "credit",
    "debit",
    "escrow",
    "escrow_account",
    "escrow_key",
    "hold",
    "pay_out",
    "project_money",
    "read_balance",
    "read_supply",
    "require_participant",
]

NAME = "payments"
MAX_AMOUNT = 10**15
CURRENCY = Str(min_len=3, max_len=3, pattern="[A-Z]{3}", doc="ISO 4217 code, e.g. EUR")
EXTERNAL = "external"  # the other side of deposits and withdrawals (the bank's books)


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


# -- keys (the one place they are spelled) ------------------------------------------------------

def _bkey(did: str, ccy: str) -> str:
    return f"b/{did}/{ccy}"


def escrow_key(escrow_id: str) -> str:
    return f"x/{escrow_id}"


def _skey(ccy: str) -> str:
    return f"s/{ccy}"


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
        errors=(AmountError, NotFound))
def deposit(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Credit an account with money the settlement institution has received."""
    require_participant(ctx, args["account"])
    ccy, amount = args["currency"], args["amount"]
    supply = _bounded((ctx.get(_skey(ccy)) or 0) + amount, f"the {ccy} supply")
    new = credit(ctx, args["account"], ccy, amount)
    ctx.put(_skey(ccy), supply)
    _moved(ctx, ccy, amount, EXTERNAL, None, args["account"], new, "deposit",
           ref=args.get("reference", ""))
    return {"account": args["account"], "currency": ccy, "balance": new}


@method(roles="settlement", args={"account": _ACCOUNT, "currency": CURRENCY,
                                  "amount": Amount(), "reference": _REF},
        errors=(AmountError, InsufficientFunds))
def withdraw(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Debit an account the settlement institution pays out (on the holder's instruction,
    which the institution checks off the ledger)."""
    ccy, amount = args["currency"], args["amount"]
    new = debit(ctx, args["account"], ccy, amount)
    ctx.put(_skey(ccy), (ctx.get(_skey(ccy)) or 0) - amount)
    _moved(ctx, ccy, amount, args["account"], new, EXTERNAL, None, "withdrawal",
           ref=args.get("reference", ""))
    return {"account": args["account"], "currency": ccy, "balance": new}


@method(roles=ANY_PARTICIPANT, args={"to": _ACCOUNT, "currency": CURRENCY, "amount": Amount(),
                                     "memo": Str(max_len=200, optional=True)},
        errors=(AmountError, InsufficientFunds, NotFound, Forbidden))
def transfer(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Pay another participant from the signer's own balance."""
    if args["to"] == ctx.signer:
        raise Forbidden("a transfer to oneself moves nothing")
    require_participant(ctx, args["to"])
    transfer_between(ctx, ctx.signer, args["to"], args["currency"], args["amount"], "transfer")
    return {"from": ctx.signer, "to": args["to"], "amount": args["amount"]}


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


CONTRACT = Contract.of("payments", __doc__ or "", [deposit, withdraw, transfer],
                       tables=(BALANCES,), projectors={"payments.money": project_money})
