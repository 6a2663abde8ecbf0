"""The account page's money: the balances the user holds, withdrawals out of them, and the
instructions a bank is to pay out (``payments`` rules v2).

Money leaves the ledger only on the holder's signed instruction: a participant from its
own account, a member (not a device or node) from its organisation's ``org:<org>``
account. The page offers the instruction form for those accounts, lists the user's
instructions (an open one has a "Cancel" button) and, for a settlement participant, the
open instructions naming it or its organisation as the bank, each with "Pay out" (see
``actions.py``; the form opened defaults to the instructed amount and takes the bank's
reference). All of it signs through the ordinary method forms, with their CSRF and
send-once tokens.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from urllib.parse import urlencode

from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.actions import holds_account, pays_for
from supplyledger.api.web.mine import display_names, suggestions, time_column

__all__ = ["ROWS", "money_context"]

ROWS = 20  # instructions listed per list; the rest are on /tables/withdrawals


def _accounts(who: Principal) -> list[str]:
    own = [who.did]
    if who.org is not None and holds_account(who, f"org:{who.org}"):
        own.append(f"org:{who.org}")
    return own


def _to_pay(svc: LedgerService, who: Principal) -> tuple[list[dict[str, Any]], list[str]]:
    """Open instructions naming the user, or their organisation, as the bank; and links to
    all of those of each when one list is cut."""
    rows: list[dict[str, Any]] = []
    more = []
    for bank in (who.did, who.org):
        if bank is None or not pays_for(who, bank):
            continue
        page = svc.reads.rows("withdrawals", ROWS, None, {"bank": bank, "state": "open"})
        rows += page.items
        if page.next_cursor is not None:
            more.append("/tables/withdrawals?" + urlencode({"bank": bank, "state": "open"}))
    return rows, more


def money_context(svc: LedgerService, who: Principal) -> dict[str, Any]:
    """What the account page needs to show ``who``'s money (``money`` is None on a node
    without the payments contract)."""
    if "payments" not in svc.contracts or "withdrawals" not in svc.reads.tables:
        return {"money": None}
    accounts = _accounts(who)
    balances = [r for a in accounts
                for r in svc.reads.rows("balances", svc.settings.page_max, None,
                                        {"account": a}).items]
    t = svc.reads.table("withdrawals")
    also = [("account", a) for a in accounts[1:]]
    mine, n_mine = svc.reads.naming("withdrawals", ["account"], who.did, time_column(t),
                                    ROWS, also)
    to_pay, more = _to_pay(svc, who)
    today = dt.datetime.fromtimestamp(svc.node.clock() / 1000, dt.UTC).strftime("%Y%m%d")
    return {"money": {
        "accounts": accounts, "balances": balances,
        "currencies": sorted({str(r["currency"]) for r in balances if r["balance"] > 0}),
        "v2": svc.rules_version("payments") >= 2,
        "mine": mine, "n_mine": n_mine, "to_pay": to_pay, "more_to_pay": more,
        "settlement": who.has("settlement"),
        # A fresh id for the next instruction (the holder may choose another).
        "next_id": f"w-{today}-{secrets.token_hex(3)}",
        "columns": t.column_names, "balance_columns": svc.reads.table("balances").column_names,
        "names": display_names(svc, balances, mine, to_pay),
        "lists": suggestions(svc, who, {"banks"})}}
