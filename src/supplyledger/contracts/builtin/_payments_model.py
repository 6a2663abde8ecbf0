"""Money primitives of the ``payments`` contract: amounts, currencies, keys, balances and
escrows. The contract's methods and the contracts that move money through it (orders,
customs, credit, fx) use these; ``payments`` re-exports the public ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.runtime import MACHINE_ROLES as MACHINE_ROLES  # (re-exported)
from supplyledger.contracts.runtime import Ctx, StateReader
from supplyledger.contracts.schema import Arg, Str
from supplyledger.errors import (
    AmountError,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.ledger.encoding import decode

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
# A member holding only MACHINE_ROLES never acts for its organisation's money. (The roles
# live in the runtime: identity rules v3 confine machine keys in every contract.)


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

def balance_key(did: str, ccy: str) -> str:
    return f"b/{did}/{ccy}"


def escrow_key(escrow_id: str) -> str:
    return f"x/{escrow_id}"


def supply_key(ccy: str) -> str:
    return f"s/{ccy}"


def withdrawal_key(instruction: str) -> str:
    return f"w/{instruction}"


def open_key(account: str) -> str:
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
    v: int = ctx.read(NAME, balance_key(did, ccy)) or 0
    return v


def bounded(value: int, what: str) -> int:
    if value > MAX_AMOUNT:
        raise AmountError(f"{what} would exceed {MAX_AMOUNT} minor units")
    return value


def moved(ctx: Ctx, ccy: str, amount: int, src: str, src_bal: int | None, dst: str,
           dst_bal: int | None, why: str, **ref: str) -> None:
    ctx.emit("money", ccy=ccy, amount=amount, src=src, src_balance=src_bal, dst=dst,
             dst_balance=dst_bal, why=why, **ref)


def debit(ctx: Ctx, did: str, ccy: str, amount: int) -> int:
    """Take ``amount`` from ``did``'s balance (no event: callers emit one per move)."""
    have = balance(ctx, did, ccy)
    if have < amount:
        raise InsufficientFunds(f"{did} holds {have} {ccy}, needs {amount}", needed=amount,
                                available=have, currency=ccy)
    ctx.put_other(NAME, balance_key(did, ccy), have - amount)
    return have - amount


def credit(ctx: Ctx, did: str, ccy: str, amount: int) -> int:
    new = bounded(balance(ctx, did, ccy) + amount, f"the balance of {did}")
    ctx.put_other(NAME, balance_key(did, ccy), new)
    return new


def transfer_between(ctx: Ctx, src: str, dst: str, ccy: str, amount: int, why: str) -> None:
    """Participant to participant (financing advances use this too)."""
    s = debit(ctx, src, ccy, amount)
    d = credit(ctx, dst, ccy, amount)
    moved(ctx, ccy, amount, src, s, dst, d, why)


def escrow(ctx: Ctx, escrow_id: str) -> dict[str, Any] | None:
    return ctx.read(NAME, escrow_key(escrow_id))  # type: ignore[no-any-return]


def hold(ctx: Ctx, escrow_id: str, payer: str, ccy: str, amount: int, why: str) -> None:
    """Move ``amount`` from ``payer`` into a new escrow (InsufficientFunds if it can't)."""
    if escrow(ctx, escrow_id) is not None:
        raise InvalidState(f"escrow {escrow_id} already exists", current="held")
    left = debit(ctx, payer, ccy, amount)
    ctx.put_other(NAME, escrow_key(escrow_id), {"ccy": ccy, "amount": amount, "payer": payer})
    moved(ctx, ccy, amount, payer, left, escrow_account(escrow_id), amount, why)


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
    moved(ctx, x["ccy"], amount, escrow_account(escrow_id), x["amount"], payee, d, why)


ACCOUNT = Str(max_len=128, doc="participant id (did:sl:…)")
REFERENCE = Str(max_len=128, optional=True, doc="the bank's reference for the real payment")


# -- queries (over committed state, for the node, API and tests) ---------------------------------

def read_balance(read: StateReader, did: str, ccy: str) -> int:
    raw = read(f"{NAME}/{balance_key(did, ccy)}")
    return 0 if raw is None else int(decode(raw))


def read_supply(read: StateReader, ccy: str) -> int:
    raw = read(f"{NAME}/{supply_key(ccy)}")
    return 0 if raw is None else int(decode(raw))
