"""Rules v3 of the ``payments`` contract: a consortium admin hands a revoked participant's
money to a successor within its organisation (see the contract's docstring)."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._payments_model import (
    ISO_4217,
    MACHINE_ROLES,
    balance,
    credit,
    debit,
    moved,
    open_key,
    supply_key,
)
from supplyledger.contracts.builtin.identity import check_shown_text, participant_key
from supplyledger.contracts.runtime import Ctx, method
from supplyledger.contracts.schema import Str
from supplyledger.errors import AmountError, Forbidden, InvalidState, NotFound, ValidationError

__all__ = ["SHOWN_TEXT", "balance_hand_over_checks", "hand_over_balance"]

# Free text shown to people, checked as identity checks names (the web and API run this
# check before signing: :meth:`LedgerService.check_shown_text`).
SHOWN_TEXT = {"hand_over_balance": ("reason",)}

def _needs_v3(ctx: Ctx) -> None:
    if ctx.version < 3:
        raise InvalidState(f"handing over a revoked participant's balance is payments rules "
                           f"v3; this ledger runs v{ctx.version} (an admin adopts v3 with "
                           "rules.adopt)", current=f"rules v{ctx.version}")


def _revoked_holder(ctx: Ctx, account: str) -> dict[str, Any]:
    """The revoked participant whose own account ``account`` is."""
    _not_org_account(account)
    p = ctx.read("identity", participant_key(account))
    if p is None:
        raise NotFound(f"no participant {account}", account=account)
    if p["status"] != "revoked":
        raise InvalidState(f"participant {account} is {p['status']}: it moves its own money "
                           "(transfer, instruct_withdrawal); only a revoked participant's "
                           "balance is handed over", current=p["status"])
    return p  # type: ignore[no-any-return]


def _not_org_account(account: str) -> None:
    """Refuse handing over ``org:<org>``'s balance (stateless: from payments rules v5 an
    admission check, :func:`admit_hand_over`)."""
    if account.startswith("org:"):
        raise ValidationError(f"{account} is an organisation's account, which its members "
                              "instruct for: only a revoked participant's own balance is "
                              "handed over", arg="account")


def _check_successor(ctx: Ctx, holder: dict[str, Any], to: str) -> None:
    """``to`` exists, is active, and belongs to ``holder``'s organisation (see the
    docstring: an admin never moves one organisation's money to another)."""
    account, org = holder["did"], holder["org"]
    not_itself(account, to)
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


def not_itself(account: str, to: str) -> None:
    """Refuse a hand-over of ``account`` to itself (stateless: from payments rules v5 an
    admission check, :func:`admit_hand_over`)."""
    if to == account:
        raise ValidationError(f"to is {account} itself: a hand-over goes to a successor",
                              arg="to")


def admit_hand_over(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    """``hand_over_balance``'s checks that need no state, in its order: the reason, an
    organisation's account, the account itself as its successor."""
    check_shown_text(version, "reason", a["reason"])
    _not_org_account(a["account"])
    not_itself(a["account"], a["to"])


def _known_currency(ctx: Ctx, ccy: str) -> str:
    """ISO 4217, or a v1 code money was once deposited in (``s/<ccy>`` exists)."""
    if ccy not in ISO_4217 and not ctx.exists(supply_key(ccy)):
        raise ValidationError(f"currency {ccy} is not an ISO 4217 code, and no money in it "
                              "was ever deposited on this ledger", arg="currency", value=ccy)
    return ccy


def balance_hand_over_checks(ctx: Ctx, account: str, to: str | None = None,
                             currency: str | None = None) -> dict[str, int]:
    """The amounts by currency a consortium admin's :func:`hand_over_balance` would move
    from revoked ``account`` to ``to`` (in ``currency``, or in every ISO 4217 one), else
    its refusal. With ``to`` None, every check but those about the successor. (The web's
    row button and form ask it too; the reason is checked as any shown text is.)"""
    _needs_v3(ctx)
    return _checks(ctx, account, to, currency)


def _checks(ctx: Ctx, account: str, to: str | None, currency: str | None) -> dict[str, int]:
    """``hand_over_balance``'s checks after the reason's, in its order (the first refusal
    is the one a receipt keeps); the successor's skipped when ``to`` is None."""
    holder = _revoked_holder(ctx, account)
    ccys = [_known_currency(ctx, currency)] if currency is not None else sorted(ISO_4217)
    if to is not None:
        _check_successor(ctx, holder, to)
    open_ids = ctx.get(open_key(account)) or []
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
    return amounts


@method(roles="admin", args={
    "account": Str(max_len=128, doc="the revoked participant's id (did:sl:…)"),
    "to": Str(max_len=128, doc="the successor: org:<org> of the revoked participant's "
              "organisation, or an active member of it (not only a machine key)"),
    "currency": Str(min_len=3, max_len=3, pattern="[A-Z]{3}", optional=True,
                    doc="default: every ISO 4217 currency it holds"),
    "reason": Str(max_len=500, doc="why, shown to people (no control or bidi characters, "
                  "not only whitespace)"),
}, errors=(InvalidState, NotFound, Forbidden, ValidationError, AmountError),
   admit=(5, admit_hand_over))
def hand_over_balance(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Consortium admin (rules v3): move all of a revoked participant's balance (in
    ``currency``, or in every ISO 4217 currency) to a successor within its organisation,
    once no withdrawal instruction of its account is open (cancel those first)."""
    _needs_v3(ctx)
    check_shown_text(ctx.version, "reason", a["reason"])  # payments v3 implies identity v2's
    account, to = a["account"], a["to"]
    amounts = _checks(ctx, account, to, a.get("currency"))
    for ccy, amount in amounts.items():
        left = debit(ctx, account, ccy, amount)
        new = credit(ctx, to, ccy, amount)
        moved(ctx, ccy, amount, account, left, to, new, "hand-over")
    ctx.emit("balance_handed_over", account=account, to=to, amounts=amounts,
             reason=a["reason"], by=ctx.signer)
    return {"account": account, "to": to, "handed_over": amounts}
