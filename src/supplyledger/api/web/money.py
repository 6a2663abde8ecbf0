"""The account page's money: the balances the user holds, withdrawals out of them, and the
instructions a bank is to pay out (``payments`` rules v2).

Money leaves the ledger only on the holder's signed instruction: a participant from its
own account, a member (not a device or node) from its organisation's ``org:<org>``
account. The page offers the instruction form for those accounts, lists the user's
instructions (an open one has a "Cancel" button) and, for a settlement participant, first
on the page (paying out is what a bank comes for), the open instructions naming it or its
organisation as the bank, each with "Pay out" (see ``actions.py``; the form opened
defaults to the instructed amount and takes the bank's reference). All of it signs through
the ordinary method forms, with their CSRF and send-once tokens. Balances are listed in
three columns (account, amount with its currency, last change) that a phone shows whole.

Every list of instructions (this page, the Orders inbox, ``/tables/withdrawals``, the
admin page) shows who instructed each one (``instructed_by``, from the instruction in
state: the table has no such column) and, once rules v3 are in force, whether it has
lapsed and why (``lapsed``). Whether it has is decided by the contract's own rule, run
over the committed state (:func:`_lapse_reader`), so the page can never disagree with
what the bank's ``withdraw`` would answer. A lapsed instruction offers no "Pay out"; its
holder's members, and a consortium admin, "Cancel" (the admin page lists them, a page at a
time: :func:`lapsed_instructions`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.actions import (
    balance_rows,
    holding_rows,
    holds_account,
    order_rows,
    pays_for,
    product_rows,
    record_rows,
    signing_rows,
)
from supplyledger.api.web.mine import display_names, suggestions, time_column
from supplyledger.api.web.names import participant_names
from supplyledger.api.web.pages_logistics import breach_cells

# The contract's own rule and key spelling, imported rather than copied, so the page
# decides exactly as the ledger does.
from supplyledger.contracts.builtin._payments_model import withdrawal_key
from supplyledger.contracts.builtin._payments_withdraw import lapsed
from supplyledger.contracts.runtime import Ctx
from supplyledger.store.listings import encode_cursor

__all__ = ["LAPSE_PAGES", "LAPSE_RULES", "ROWS", "lapsed_instructions", "money_context",
           "shown_columns", "shown_rows"]

ROWS = 20  # instructions listed per list; the rest are on /tables/withdrawals
LAPSE_RULES = 3  # the payments rules version from which an instruction lapses
# Store pages of open instructions (``page_max`` rows each, each row a few state reads) that
# one page of the admin page's lapsed list reads at most; its "next" link reads on.
LAPSE_PAGES = 2
TABLE = "withdrawals"


def _accounts(who: Principal) -> list[str]:
    own = [who.did]
    if who.org is not None and holds_account(who, f"org:{who.org}"):
        own.append(f"org:{who.org}")
    return own


def _lapse_reader(svc: LedgerService) -> Ctx:
    """The committed state as the payments contract reads it (no writes are ever kept),
    under the rules version in force."""
    return Ctx(contract="payments", signer="", roles=frozenset(), org=None,
               time=svc.node.clock(), tx_id="", read=svc.node.store.get_state,
               version=svc.rules_version("payments"))


def _lapse(ctx: Ctx, iid: str) -> tuple[str | None, str | None]:
    """Who gave withdrawal instruction ``iid``, and why it has lapsed (None while it stands,
    once it is no longer open, or under rules before v3)."""
    w = ctx.get(withdrawal_key(iid))
    if w is None:
        return None, None
    open_v3 = ctx.version >= LAPSE_RULES and w["state"] == "open"
    return str(w["by"]), lapsed(ctx, w) if open_v3 else None


def shown_rows(svc: LedgerService, table: str,
               rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of ``table`` as the pages list them: a withdrawal instruction gains
    ``instructed_by`` (a participant id) and ``lapsed`` (why, with names for ids, or None:
    always None before rules v3). An order gains the next steps its state allows
    (``actions.order_rows``), a private record whether an admin may erase it
    (``actions.record_rows``), a batch's holding which revoked holder an admin may hand
    over for (``actions.holding_rows``), a balance whether an admin may hand it over
    (``actions.balance_rows``), a product whose owner may sell it
    (``actions.product_rows``), a cold-chain breach its worst value and rule in words
    (``pages_logistics.breach_cells``). Other tables' rows pass unchanged. A row of a
    table with row buttons also gains the identity rules version in force
    (``actions.signing_rows``: what a machine key may sign)."""
    rows = signing_rows(svc, table, rows)
    if table == "orders":
        return order_rows(svc, rows)
    if table == "private_records":
        return record_rows(svc, rows)
    if table == "custody_holdings":
        return holding_rows(svc, rows)
    if table == "balances":
        return balance_rows(svc, rows)
    if table == "products":
        return product_rows(svc, rows)
    if table == "sensor_breaches":
        return breach_cells(svc, rows)
    if table != TABLE:
        return list(rows)
    ctx = _lapse_reader(svc)
    out = []
    for r in rows:
        by, why = _lapse(ctx, str(r["id"]))
        out.append({**r, "instructed_by": by, "lapsed": why})
    names = participant_names(svc, {r["instructed_by"] for r in out if r["lapsed"]})
    for r in out:
        if r["lapsed"] and r["instructed_by"] in names:
            r["lapsed"] = r["lapsed"].replace(r["instructed_by"], names[r["instructed_by"]])
    return out


def shown_columns(svc: LedgerService, table: str, columns: Sequence[str]) -> list[str]:
    """The columns :func:`shown_rows` rows are listed with: ``instructed_by`` after the
    account, and under rules v3 ``lapsed`` after the state."""
    cols = list(columns)
    if table != TABLE:
        return cols
    cols.insert(cols.index("account") + 1, "instructed_by")
    if svc.rules_version("payments") >= LAPSE_RULES:
        cols.insert(cols.index("state") + 1, "lapsed")
    return cols


def _open_from(svc: LedgerService, cursor: str | None,
               most: int) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Up to ``most`` open instructions after ``cursor``, in key order, each with the cursor
    that resumes after it (None after the last open one)."""
    pk = svc.reads.table(TABLE).primary_key
    read = 0
    while read < most:
        page = svc.reads.rows(TABLE, min(svc.settings.page_max, most - read), cursor,
                              {"state": "open"})
        for i, r in enumerate(page.items):
            last = page.next_cursor is None and i == len(page.items) - 1
            yield r, None if last else encode_cursor([r[k] for k in pk])
        read += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return


def lapsed_instructions(svc: LedgerService, issue: Callable[[], str],
                        cursor: str | None = None) -> dict[str, Any] | None:
    """For the admin page: a page of the open instructions that have lapsed, each with a
    fresh send-once token for its "Cancel" form (``issue``); None where the rule is not in
    force (no payments contract, or rules before v3).

    Whether one has lapsed depends on its instructor's state (the contract's rule), which
    no query of the table selects; so a page reads the open instructions after ``cursor``
    in key order until it holds ROWS lapsed ones or has read LAPSE_PAGES store pages, and
    ``next`` resumes after the last one read (None at the end). Following ``next`` lists
    every lapsed instruction once, and no page costs more than LAPSE_PAGES * page_max rows
    however many instructions are open."""
    if ("payments" not in svc.contracts or TABLE not in svc.reads.tables
            or svc.rules_version("payments") < LAPSE_RULES):
        return None
    ctx = _lapse_reader(svc)
    found: list[dict[str, Any]] = []
    read, nxt = 0, None
    for r, after in _open_from(svc, cursor, LAPSE_PAGES * svc.settings.page_max):
        read, nxt = read + 1, after
        if _lapse(ctx, str(r["id"]))[1] is not None:
            found.append(r)
            if len(found) == ROWS:
                break
    rows = [{**r, "once": issue()} for r in shown_rows(svc, TABLE, found) if r["lapsed"]]
    return {"rows": rows, "read": read, "next": nxt, "cursor": cursor or "",
            "names": display_names(svc, rows)}


def _to_pay(svc: LedgerService, who: Principal) -> tuple[list[dict[str, Any]], list[str]]:
    """Open instructions naming the user, or their organisation, as the bank; and links to
    all of those of each when one list is cut."""
    rows: list[dict[str, Any]] = []
    more = []
    for bank in (who.did, who.org):
        if bank is None or not pays_for(who, bank):
            continue
        page = svc.reads.rows(TABLE, ROWS, None, {"bank": bank, "state": "open"})
        rows += page.items
        if page.next_cursor is not None:
            more.append(f"/tables/{TABLE}?" + urlencode({"bank": bank, "state": "open"}))
    return shown_rows(svc, TABLE, rows), more


def money_context(svc: LedgerService, who: Principal) -> dict[str, Any]:
    """What the account page needs to show ``who``'s money (``money`` is None on a node
    without the payments contract)."""
    if "payments" not in svc.contracts or TABLE not in svc.reads.tables:
        return {"money": None}
    accounts = _accounts(who)
    balances = [r for a in accounts
                for r in svc.reads.rows("balances", svc.settings.page_max, None,
                                        {"account": a}).items]
    t = svc.reads.table(TABLE)
    also = [("account", a) for a in accounts[1:]]
    mine, n_mine = svc.reads.naming(TABLE, ["account"], who.did, time_column(t), ROWS, also)
    mine = shown_rows(svc, TABLE, mine)
    to_pay, more = _to_pay(svc, who)
    today = dt.datetime.fromtimestamp(svc.node.clock() / 1000, dt.UTC).strftime("%Y%m%d")
    return {"money": {
        "accounts": accounts, "balances": balances,
        "currencies": sorted({str(r["currency"]) for r in balances if r["balance"] > 0}),
        "v2": svc.rules_version("payments") >= 2,
        "mine": mine, "n_mine": n_mine, "to_pay": to_pay, "more_to_pay": more,
        "lapsed_mine": any(r["lapsed"] for r in mine),
        "lapsed_to_pay": any(r["lapsed"] for r in to_pay),
        "settlement": who.has("settlement"),
        # A fresh id for the next instruction (the holder may choose another).
        "next_id": f"w-{today}-{secrets.token_hex(3)}",
        "columns": shown_columns(svc, TABLE, t.column_names),
        "names": display_names(svc, balances, mine, to_pay),
        "lists": suggestions(svc, who, {"banks"})}}
