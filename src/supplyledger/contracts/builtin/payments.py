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

Rules v4 change only words: a participant who may not cancel a
withdrawal instruction is told who may (the account's holder, or for ``org:<org>`` a
member of the organisation that is more than a machine key, and a consortium admin once
the instruction has lapsed), where v2 and v3 answered with the words for instructing
("only the holder instructs a withdrawal from …"). Receipts store the words, so v2 and v3
keep theirs.

Rules v5 (new ledgers start there) refuse before execution what needs no state to refuse
(``runtime`` admission checks): a ``deposit`` or ``transfer`` in a currency not in
:data:`ISO_4217`, a transfer to oneself, a ``hand_over_balance`` of an organisation's
account, to the account itself or with a reason identity's rules for shown text refuse.
Same error and words, but the submitter gets them at once and no block records a failed
transaction; v1 to v4 ledgers record it, as they did.

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

from typing import Any

from supplyledger.contracts.builtin._payments_handover import (
    SHOWN_TEXT,
    balance_hand_over_checks,
    hand_over_balance,
)
from supplyledger.contracts.builtin._payments_model import (
    ACCOUNT,
    CURRENCY,
    EXTERNAL,
    ISO_4217,
    MACHINE_ROLES,
    MAX_AMOUNT,
    REFERENCE,
    Amount,
    balance,
    bounded,
    credit,
    debit,
    escrow,
    escrow_account,
    escrow_key,
    hold,
    iso_currency,
    moved,
    pay_out,
    read_balance,
    read_supply,
    require_participant,
    supply_key,
    transfer_between,
    withdrawal_escrow,
)
from supplyledger.contracts.builtin._payments_withdraw import (
    cancel_withdrawal,
    instruct_withdrawal,
    withdraw,
)
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Str
from supplyledger.errors import AmountError, Forbidden, InsufficientFunds, NotFound, ValidationError

__all__ = [
    "CONTRACT",
    "CURRENCY",
    "ISO_4217",
    "MACHINE_ROLES",
    "MAX_AMOUNT",
    "SHOWN_TEXT",
    "Amount",
    "balance",
    "balance_hand_over_checks",
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
    "transfer_between",
    "withdrawal_escrow",
]

# -- methods ------------------------------------------------------------------------------------



# From these rules on, the checks below that need no state refuse before execution.
ADMIT_RULES = 5


def _admit_deposit(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    iso_currency(a["currency"])


def _admit_transfer(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    iso_currency(a["currency"])  # in transfer's order: the currency first
    _not_to_oneself(signer, a["to"])


def _not_to_oneself(signer: str, to: str) -> None:
    if to == signer:
        raise Forbidden("a transfer to oneself moves nothing")


@method(roles="settlement", args={"account": ACCOUNT, "currency": CURRENCY,
                                  "amount": Amount(), "reference": REFERENCE},
        errors=(AmountError, NotFound, ValidationError),
        admit=(ADMIT_RULES, _admit_deposit))
def deposit(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Credit an account with money the settlement institution has received."""
    if ctx.version >= 2:
        iso_currency(args["currency"])
    require_participant(ctx, args["account"])
    ccy, amount = args["currency"], args["amount"]
    supply = bounded((ctx.get(supply_key(ccy)) or 0) + amount, f"the {ccy} supply")
    new = credit(ctx, args["account"], ccy, amount)
    ctx.put(supply_key(ccy), supply)
    moved(ctx, ccy, amount, EXTERNAL, None, args["account"], new, "deposit",
           ref=args.get("reference", ""))
    return {"account": args["account"], "currency": ccy, "balance": new}


@method(roles=ANY_PARTICIPANT, args={"to": ACCOUNT, "currency": CURRENCY, "amount": Amount(),
                                     "memo": Str(max_len=200, optional=True)},
        errors=(AmountError, InsufficientFunds, NotFound, Forbidden, ValidationError),
        admit=(ADMIT_RULES, _admit_transfer))
def transfer(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Pay another participant from the signer's own balance."""
    if ctx.version >= 2:
        iso_currency(args["currency"])
    _not_to_oneself(ctx.signer, args["to"])
    require_participant(ctx, args["to"])
    transfer_between(ctx, ctx.signer, args["to"], args["currency"], args["amount"], "transfer")
    return {"from": ctx.signer, "to": args["to"], "amount": args["amount"]}


# -- a revoked participant's money (rules v3) ----------------------------------------------------

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
                       versions=(1, 2, 3, 4, 5))
