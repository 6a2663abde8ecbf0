"""fx — currency exchange at a dealer's quote (paper 004: multi-currency settlement of
cross-border orders).

A buyer holding CNY pays an order priced in EUR by first exchanging CNY for EUR with a
dealer: a ``settlement`` participant (a bank or payment institution) that posts quotes and
holds a float of the currencies it sells. Design decisions:

* **A quote is the dealer's own offer**, not an official rate (those are the customs
  contract's ``set_rate``, for valuation): any settlement participant may quote, for its own
  float. It names what the customer pays and gets, a rate in **get minor units per pay
  minor unit x 10^9** (as customs rates: minor units on both sides, so no table of currency
  exponents), and the time until which it holds (at most 7 days ahead). The dealer's spread
  is in the rate. A new quote for the pair replaces the old one; ``unquote`` withdraws it.
  Expiry is judged by the exchange's transaction time, which the node accepts within its
  clock window (``time_window_ms``): a dealer who must stop at once unquotes.
* **The customer names the least it accepts** (``min_get``): a quote replaced between signing
  and execution never gives less than the customer signed for. The amount received is
  rounded down, in the dealer's favour, and must be at least one minor unit.
* **Both legs or neither**: the customer's payment and the dealer's delivery are two moves in
  one call; a dealer short of the currency fails the whole call (``insufficient_funds``),
  so per currency money is still only moved, never made (payments' invariant holds).

Rules v2: both currencies of a quote or an exchange must be ISO 4217 codes
(``payments.ISO_4217``), else ``validation_error``; v1 took any three capitals.

Rules v3 (new ledgers start there) refuse before execution what needs no state to refuse
(``runtime`` admission checks): a quote or an exchange in a currency not in ISO 4217, a
quote whose ``until`` is not after its transaction's own signed time or more than 7 days
after it, and a dealer exchanging with itself. Same error and words, but the submitter
gets them at once and no block records a failed transaction; v1 and v2 ledgers record it,
as they did.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin.payments import (
    CURRENCY,
    MAX_AMOUNT,
    Amount,
    iso_currency,
    project_money,
    require_participant,
    transfer_between,
)
from supplyledger.contracts.projection import Delete, EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import (
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
)

__all__ = ["CONTRACT", "RATE_SCALE"]

RATE_SCALE = 10**9
MAX_QUOTE_MS = 7 * 24 * 3_600_000
_RATE = Int(min=1, max=MAX_AMOUNT, doc=f"get minor units per pay minor unit x {RATE_SCALE}")
_DEALER = Str(max_len=128, doc="the dealer's participant id (did:sl:…)")


def _qkey(dealer: str, pay: str, get: str) -> str:
    return f"q/{dealer}/{pay}/{get}"


def _iso_pair(ctx: Ctx, a: dict[str, Any]) -> None:
    if ctx.version >= 2:
        iso_currency(a["pay"], "pay")
        iso_currency(a["get"], "get")


def _not_itself(signer: str, dealer: str) -> None:
    if dealer == signer:
        raise Forbidden("a dealer does not exchange with itself")


def _until(until: int, time: int) -> None:
    """A quote holds past its transaction's own time ``time``, at most 7 days."""
    if not time < until <= time + MAX_QUOTE_MS:
        raise ValidationError("until must be after the transaction's time and at most 7 days "
                              "after it", arg="until", time=time)


def _admit_iso(a: dict[str, Any]) -> None:
    iso_currency(a["pay"], "pay")
    iso_currency(a["get"], "get")


def _admit_quote(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    _admit_iso(a)
    _until(a["until"], time)


def _admit_exchange(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    _admit_iso(a)
    _not_itself(signer, a["dealer"])


# From these rules on, the checks above refuse before execution.
ADMIT_RULES = 3


def _prepare_pair(a: dict[str, Any]) -> dict[str, Any]:
    if a["pay"] == a["get"]:
        raise ValidationError(f"pay and get are both {a['pay']}: nothing to exchange",
                              arg="get")
    return a


@method(roles="settlement", prepare=_prepare_pair, args={
    "pay": CURRENCY, "get": CURRENCY, "rate": _RATE,
    "until": Int(min=0, max=2**53 - 1, doc="ms since the epoch; at most 7 days ahead"),
}, errors=(ValidationError,), admit=(ADMIT_RULES, _admit_quote))
def quote(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Dealer: offer to take ``pay`` and give ``get`` at ``rate`` until ``until``."""
    _iso_pair(ctx, a)
    _until(a["until"], ctx.time)
    q = {"rate": a["rate"], "until": a["until"], "since": ctx.time}
    ctx.put(_qkey(ctx.signer, a["pay"], a["get"]), q)
    ctx.emit("quoted", dealer=ctx.signer, pay=a["pay"], get=a["get"], **q)
    return {"pair": f"{a['pay']}->{a['get']}", **q, "scale": RATE_SCALE}


@method(roles="settlement", prepare=_prepare_pair,
        args={"pay": CURRENCY, "get": CURRENCY}, errors=(NotFound, ValidationError))
def unquote(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Dealer: withdraw its quote for a pair."""
    key = _qkey(ctx.signer, a["pay"], a["get"])
    if ctx.get(key) is None:
        raise NotFound(f"no {a['pay']}->{a['get']} quote of yours")
    ctx.delete(key)
    ctx.emit("unquoted", dealer=ctx.signer, pay=a["pay"], get=a["get"])
    return {"pair": f"{a['pay']}->{a['get']}"}


@method(roles=ANY_PARTICIPANT, prepare=_prepare_pair, args={
    "dealer": _DEALER, "pay": CURRENCY, "amount": Amount(doc="minor units of pay"),
    "get": CURRENCY, "min_get": Amount(doc="the least accepted, minor units of get"),
}, errors=(NotFound, Forbidden, InvalidState, InsufficientFunds, AmountError,
           ValidationError), admit=(ADMIT_RULES, _admit_exchange))
def exchange(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Pay ``amount`` of ``pay`` to a dealer and get ``get`` at its quote in force, at least
    ``min_get``; both moves or neither."""
    _iso_pair(ctx, a)
    dealer, pay, get = a["dealer"], a["pay"], a["get"]
    _not_itself(ctx.signer, dealer)
    q = ctx.get(_qkey(dealer, pay, get))
    if q is None or ctx.time >= q["until"]:
        raise NotFound(f"no {pay}->{get} quote of {dealer} in force", dealer=dealer)
    require_participant(ctx, dealer, role="settlement")
    out = a["amount"] * q["rate"] // RATE_SCALE
    if not 1 <= out <= MAX_AMOUNT:
        raise AmountError(f"{a['amount']} {pay} buys {out} minor units of {get}: the amount "
                          f"must buy from 1 to {MAX_AMOUNT}", arg="amount")
    if out < a["min_get"]:
        raise InvalidState(f"the quote in force gives {out} {get}, below min_get "
                           f"{a['min_get']}", current="quoted", rate=q["rate"], get=out)
    transfer_between(ctx, ctx.signer, dealer, pay, a["amount"], "exchange")
    transfer_between(ctx, dealer, ctx.signer, get, out, "exchange")
    ctx.emit("exchanged", dealer=dealer, customer=ctx.signer, pay=pay, amount=a["amount"],
             get=get, received=out, rate=q["rate"])
    return {"paid": a["amount"], "pay": pay, "received": out, "get": get, "rate": q["rate"],
            "scale": RATE_SCALE}


# -- projection ---------------------------------------------------------------------------------

QUOTES = Table("fx_quotes", (("dealer", "TEXT"), ("pay", "TEXT"), ("get", "TEXT"),
                             ("rate", "INTEGER"), ("until", "INTEGER"), ("since", "INTEGER"),
                             ("tx", "TEXT")), ("dealer", "pay", "get"))
TRADES = Table("fx_trades", (("tx", "TEXT"), ("customer", "TEXT"), ("dealer", "TEXT"),
                             ("pay", "TEXT"), ("amount", "INTEGER"), ("get", "TEXT"),
                             ("received", "INTEGER"), ("rate", "INTEGER"), ("time", "INTEGER")),
               ("tx",), (("customer",), ("dealer",)))


def _quoted(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("fx_quotes", (e["dealer"], e["pay"], e["get"], e["rate"], e["until"],
                                 e["since"], m.tx))]


def _unquoted(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Delete("fx_quotes", (e["dealer"], e["pay"], e["get"]))]


def _exchanged(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("fx_trades", (m.tx, e["customer"], e["dealer"], e["pay"], e["amount"],
                                 e["get"], e["received"], e["rate"], m.time))]


CONTRACT = Contract.of("fx", __doc__ or "", [quote, unquote, exchange],
                       tables=(QUOTES, TRADES), versions=(1, 2, 3),
                       projectors={"fx.quoted": _quoted, "fx.unquoted": _unquoted,
                                   "fx.exchanged": _exchanged, "fx.money": project_money})
